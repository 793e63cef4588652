/**
 * Docker's seccomp profile format → the OCI `linux.seccomp` section.
 *
 * `docker run --security-opt seccomp=profile.json` sends the file's JSON
 * inline; it is Docker's own format, not OCI: rules may be limited to
 * capabilities, CPU architectures and kernel versions (`includes` /
 * `excludes`), architectures come as an `archMap` keyed by the native arch,
 * and old profiles use `name` instead of `names`. Moby resolves all of that
 * per container; so does this (same rules as moby's profiles/seccomp).
 */
import { release } from 'node:os';
import { BerthError } from '../../common/errors.ts';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from '../../oci/runtime-spec.ts';
import { canonicalCapabilityName } from '../capabilities.ts';
import { goArch as hostGoArch } from '../../common/go-arch.ts';

export interface DockerSeccompFilter {
  caps?: string[] | null;
  /** Go GOARCH names (amd64, arm64, …). */
  arches?: string[] | null;
  /** "4.8" */
  minKernel?: string | null;
}

export interface DockerSeccompRule {
  /** Old profiles: one name. */
  name?: string;
  names?: string[] | null;
  action: string;
  errnoRet?: number | null;
  args?: LinuxSeccompArg[] | null;
  comment?: string;
  includes?: DockerSeccompFilter | null;
  excludes?: DockerSeccompFilter | null;
}

export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number | null;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
  flags?: string[] | null;
  syscalls?: DockerSeccompRule[] | null;
}

export interface DockerProfileContext {
  /** The container's capabilities (bounding set). */
  capabilities: readonly string[];
  /** Go GOARCH of the target (default: this host's). */
  goArch?: string;
  /** Kernel release, "6.1.0-…" (default: this host's). */
  kernelRelease?: string;
}

/** GOARCH → the native SCMP_ARCH_* (moby's nativeToSeccomp). */
const SCMP_BY_GOARCH: Readonly<Record<string, string>> = Object.freeze({
  amd64: 'SCMP_ARCH_X86_64', '386': 'SCMP_ARCH_X86', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', mips64: 'SCMP_ARCH_MIPS64', mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64', mips3l64n32: 'SCMP_ARCH_MIPSEL64N32', mipsle: 'SCMP_ARCH_MIPSEL', mips: 'SCMP_ARCH_MIPS', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64',
  s390x: 'SCMP_ARCH_S390X', loong64: 'SCMP_ARCH_LOONGARCH64',
});

const invalid = (message: string) => new BerthError('BERTH_SECCOMP_PROFILE', `seccomp profile: ${message}`, { status: 400 });

/** Parse Docker-format profile JSON (what the docker CLI sends in SecurityOpt). */
export function parseDockerSeccompProfile(json: string): DockerSeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw invalid(`not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('expected a JSON object');
  const profile = value as DockerSeccompProfile;
  if (typeof profile.defaultAction !== 'string' || profile.defaultAction === '') throw invalid('defaultAction: required');
  if (profile.syscalls !== undefined && profile.syscalls !== null && !Array.isArray(profile.syscalls)) throw invalid('syscalls: expected an array');
  return profile;
}

function kernelAtLeast(releaseText: string, min: string, where: string): boolean {
  const want = /^(\d+)\.(\d+)/.exec(min);
  if (!want) throw invalid(`${where}.minKernel ${JSON.stringify(min)}: expected a version like 4.8`);
  const have = /^(\d+)\.(\d+)/.exec(releaseText);
  if (!have) return true; // unknown kernel: assume current, as moby does on parse failure
  const [hm, hn, wm, wn] = [Number(have[1]), Number(have[2]), Number(want[1]), Number(want[2])];
  return hm > wm || (hm === wm && hn >= wn);
}

/** Resolve a Docker-format profile for one container into OCI `linux.seccomp`. */
export function seccompFromDockerProfile(input: DockerSeccompProfile | string, ctx: DockerProfileContext): LinuxSeccomp {
  const profile = typeof input === 'string' ? parseDockerSeccompProfile(input) : input;
  if (typeof profile.defaultAction !== 'string' || profile.defaultAction === '') throw invalid('defaultAction: required');
  const caps = new Set(ctx.capabilities.map(canonicalCapabilityName));
  const goArch = ctx.goArch ?? hostGoArch(process.arch);
  const kernel = ctx.kernelRelease ?? release();

  if (profile.architectures?.length && profile.archMap?.length) {
    throw invalid("both 'architectures' and 'archMap' are given; use one");
  }
  let architectures: string[] = [...(profile.architectures ?? [])];
  if (profile.archMap?.length) {
    const native = SCMP_BY_GOARCH[goArch];
    for (const entry of profile.archMap) {
      if (entry.architecture === native) architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
    }
  }

  const syscalls: LinuxSyscall[] = [];
  (profile.syscalls ?? []).forEach((rule, i) => {
    const where = `syscalls[${i}]`;
    if (rule === null || typeof rule !== 'object') throw invalid(`${where}: expected an object`);
    if (rule.name && rule.names?.length) throw invalid(`${where}: give either 'name' or 'names', not both`);
    const names = rule.name ? [rule.name] : [...(rule.names ?? [])];
    if (names.length === 0) throw invalid(`${where}: no syscall names`);
    const ex = rule.excludes ?? {};
    const inc = rule.includes ?? {};
    if (ex.arches?.includes(goArch)) return;
    if (ex.caps?.some((c) => caps.has(canonicalCapabilityName(c)))) return;
    if (ex.minKernel && kernelAtLeast(kernel, ex.minKernel, `${where}.excludes`)) return;
    if (inc.arches?.length && !inc.arches.includes(goArch)) return;
    if (inc.caps?.length && !inc.caps.every((c) => caps.has(canonicalCapabilityName(c)))) return;
    if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel, `${where}.includes`)) return;
    const out: LinuxSyscall = { names, action: rule.action as LinuxSyscall['action'] };
    if (rule.errnoRet !== undefined && rule.errnoRet !== null) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  });

  const out: LinuxSeccomp = { defaultAction: profile.defaultAction as LinuxSeccomp['defaultAction'], architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined && profile.defaultErrnoRet !== null) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.flags?.length) out.flags = [...profile.flags] as LinuxSeccomp['flags'];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;
  return out;
}
