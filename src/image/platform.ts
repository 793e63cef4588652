import { BerthError } from '../common/errors.ts';
import type { Descriptor, ImageConfig, Platform } from '../oci/image-spec.ts';
import { goArch } from '../common/go-arch.ts';

/**
 * Platforms as containerd's `platforms` package treats them: specifiers
 * "os[/arch[/variant]]", normalisation of architecture aliases and variants
 * (aarch64 → arm64, armhf → arm/v7, x86_64 → amd64 …), and a matcher that
 * accepts what the platform can run, best first (linux/arm/v7 also runs v6
 * and v5 images, but prefers v7).
 */

const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle',
  'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);

const ARCH_ALIASES = new Set(['i386', 'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel']);

/** Normalise an architecture and variant the way containerd does. */
export function normalizeArch(architecture: string, variant = ''): { architecture: string; variant: string } {
  let arch = architecture.toLowerCase();
  let v = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      v = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: arch, variant: v };
}

export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  return out;
}

/** The platform berth runs images for on this host (linux/amd64 here). */
export function hostPlatform(): Platform {
  const architecture = goArch(process.arch);
  let variant = '';
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>).arm_version;
    variant = armVersion ? `v${armVersion}` : 'v7';
  }
  return normalizePlatform({ os: process.platform === 'win32' ? 'windows' : process.platform, architecture, variant });
}

/**
 * Parse a `--platform` value: "os/arch[/variant]", or just "os" or "arch"
 * (the rest is taken from the host, as containerd does).
 */
export function parsePlatform(specifier: string): Platform {
  const fail = (why: string) =>
    new BerthError('BERTH_PLATFORM_INVALID', `invalid platform "${specifier}": ${why} (expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7)`, { status: 400 });
  if (typeof specifier !== 'string' || specifier.trim() === '') throw fail('empty');
  const parts = specifier.trim().split('/');
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) throw fail('each part may contain only letters, digits, "_", "." and "-"');
  const host = hostPlatform();
  const lower = parts.map((p) => p.toLowerCase());
  if (lower.length === 1) {
    const only = lower[0]!;
    if (KNOWN_OS.has(only) || only === 'macos') {
      const os = normalizePlatform({ os: only, architecture: host.architecture }).os;
      return os === host.os ? host : { os, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) };
    }
    if (KNOWN_ARCH.has(only) || ARCH_ALIASES.has(only)) return normalizePlatform({ os: host.os, architecture: only });
    throw fail(`"${parts[0]}" is neither a known operating system nor a known architecture`);
  }
  if (lower.length > 3) throw fail('too many parts');
  const [os, arch, variant] = lower as [string, string, string | undefined];
  if (!KNOWN_OS.has(os) && os !== 'macos') throw fail(`unknown operating system "${parts[0]}"`);
  if (!KNOWN_ARCH.has(arch) && !ARCH_ALIASES.has(arch)) throw fail(`unknown architecture "${parts[1]}"`);
  return normalizePlatform({ os, architecture: arch, variant: variant ?? '' });
}

/** "linux/arm/v7" */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/**
 * How well `candidate` suits `target`: 0 for an exact match, higher for a
 * compatible fallback, undefined if it cannot run there.
 */
export function platformRank(target: Platform, candidate: Platform): number | undefined {
  const t = normalizePlatform(target);
  const c = normalizePlatform(candidate);
  if (t.os !== c.os) return undefined;
  if (t['os.version'] && c['os.version'] && t['os.version'] !== c['os.version']) return undefined;
  const i = platformVector(t.architecture, t.variant ?? '').findIndex(([a, v]) => a === c.architecture && v === (c.variant ?? ''));
  return i === -1 ? undefined : i;
}

/**
 * What a platform can run, best first — containerd's `platforms.Only`:
 * amd64/vN runs vN…v1 and 386; arm/vN runs vN…v5; arm64 runs arm64 and
 * 32-bit arm up to v8.
 */
function platformVector(arch: string, variant: string): Array<[string, string]> {
  const vector: Array<[string, string]> = [[arch, variant]];
  const level = (v: string) => Number(v.replace(/^v/, ''));
  if (arch === 'amd64') {
    for (let n = (variant ? level(variant) : 1) - 1; n >= 1; n--) vector.push(['amd64', n === 1 ? '' : `v${n}`]);
    vector.push(['386', '']);
  } else if (arch === 'arm') {
    const n = level(variant);
    if (Number.isInteger(n)) for (let k = n - 1; k >= 5; k--) vector.push(['arm', `v${k}`]);
  } else if (arch === 'arm64') {
    if (variant !== '') vector.push(['arm64', '']);
    for (let k = 8; k >= 5; k--) vector.push(['arm', `v${k}`]);
  }
  return vector;
}

export function platformMatches(target: Platform, candidate: Platform): boolean {
  return platformRank(target, candidate) !== undefined;
}

/**
 * Choose the manifest for `platform` from an index / manifest list. Entries
 * without a platform are a last resort (the caller checks their config).
 * Throws BERTH_PLATFORM_NO_MATCH (404) listing what the index offers.
 */
export function selectManifest(manifests: readonly Descriptor[], platform: Platform, reference = 'image'): Descriptor {
  let best: { desc: Descriptor; rank: number; pos: number } | undefined;
  let unplatformed: Descriptor | undefined;
  manifests.forEach((desc, pos) => {
    if (!desc.platform) {
      unplatformed ??= desc;
      return;
    }
    const rank = platformRank(platform, desc.platform);
    if (rank === undefined) return;
    if (!best || rank < best.rank || (rank === best.rank && pos < best.pos)) best = { desc, rank, pos };
  });
  if (best) return best.desc;
  if (unplatformed) return unplatformed;
  const offered = manifests
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform!))
    .join(', ');
  throw new BerthError(
    'BERTH_PLATFORM_NO_MATCH',
    `no matching manifest for ${formatPlatform(platform)} in the manifest list entries of ${reference}${offered ? ` (available: ${offered})` : ''}`,
    { status: 404, detail: { wanted: formatPlatform(platform), available: offered } },
  );
}

/** The platform an image config declares. */
export function configPlatform(config: ImageConfig): Platform {
  return normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
}

/**
 * Check a single-platform image against a requested platform, as Docker does
 * for `pull --platform` of a plain manifest. Throws BERTH_PLATFORM_MISMATCH.
 */
export function assertConfigPlatform(config: ImageConfig, wanted: Platform, reference = 'image'): void {
  const actual = configPlatform(config);
  if (!platformMatches(wanted, actual)) {
    throw new BerthError(
      'BERTH_PLATFORM_MISMATCH',
      `image with reference ${reference} was found but does not match the specified platform: wanted ${formatPlatform(normalizePlatform(wanted))}, actual: ${formatPlatform(actual)}`,
      { status: 404 },
    );
  }
}
