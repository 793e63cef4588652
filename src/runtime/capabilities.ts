/**
 * Linux capabilities: names ↔ numbers (include/uapi/linux/capability.h), the
 * bitmasks capset(2) takes, the host kernel's last capability, and Docker's
 * default set for containers.
 *
 * Names are accepted with or without the CAP_ prefix and in any case, as
 * `docker run --cap-add` does; everything returned uses the canonical
 * CAP_UPPER form that OCI config.json uses.
 */
import { readFileSync } from 'node:fs';
import { BerthError } from '../common/errors.ts';

/** Index = capability number. The order is the kernel ABI; never reorder. */
export const CAPABILITY_NAMES: readonly string[] = Object.freeze([
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE', // 1
  'CAP_DAC_READ_SEARCH', // 2
  'CAP_FOWNER', // 3
  'CAP_FSETID', // 4
  'CAP_KILL', // 5
  'CAP_SETGID', // 6
  'CAP_SETUID', // 7
  'CAP_SETPCAP', // 8
  'CAP_LINUX_IMMUTABLE', // 9
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST', // 11
  'CAP_NET_ADMIN', // 12
  'CAP_NET_RAW', // 13
  'CAP_IPC_LOCK', // 14
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE', // 16
  'CAP_SYS_RAWIO', // 17
  'CAP_SYS_CHROOT', // 18
  'CAP_SYS_PTRACE', // 19
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN', // 21
  'CAP_SYS_BOOT', // 22
  'CAP_SYS_NICE', // 23
  'CAP_SYS_RESOURCE', // 24
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG', // 26
  'CAP_MKNOD', // 27
  'CAP_LEASE', // 28
  'CAP_AUDIT_WRITE', // 29
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP', // 31
  'CAP_MAC_OVERRIDE', // 32
  'CAP_MAC_ADMIN', // 33
  'CAP_SYSLOG', // 34
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND', // 36
  'CAP_AUDIT_READ', // 37
  'CAP_PERFMON', // 38
  'CAP_BPF', // 39
  'CAP_CHECKPOINT_RESTORE', // 40
]);

/** Highest capability number this code knows about. */
export const CAP_LAST_KNOWN = CAPABILITY_NAMES.length - 1;

const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map(CAPABILITY_NAMES.map((name, i) => [name, i]));

/**
 * Docker's default capabilities for a container (moby oci/caps/defaults.go):
 * what an unprivileged-looking root inside a container keeps.
 */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** "net_raw", "NET_RAW", "cap_net_raw" → "CAP_NET_RAW" (not validated). */
export function canonicalCapabilityName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

export function isKnownCapability(name: string): boolean {
  return NUMBER_BY_NAME.has(canonicalCapabilityName(name));
}

/**
 * Capability number for a name. `where` names the field in error messages
 * (e.g. "process.capabilities.bounding[3]").
 */
export function capabilityNumber(name: string, where = 'capability'): number {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new BerthError('BERTH_CAPS_UNKNOWN', `${where}: capability name must be a non-empty string, got ${JSON.stringify(name)}`, { status: 400 });
  }
  const n = NUMBER_BY_NAME.get(canonicalCapabilityName(name));
  if (n === undefined) {
    throw new BerthError('BERTH_CAPS_UNKNOWN', `${where}: unknown capability ${JSON.stringify(name)} (known: CAP_CHOWN … CAP_CHECKPOINT_RESTORE)`, { status: 400 });
  }
  return n;
}

export function capabilityName(n: number): string {
  const name = Number.isInteger(n) ? CAPABILITY_NAMES[n] : undefined;
  if (name === undefined) {
    throw new BerthError('BERTH_CAPS_UNKNOWN', `unknown capability number ${n} (known: 0…${CAP_LAST_KNOWN})`, { status: 400 });
  }
  return name;
}

/**
 * Validate and canonicalise a list of names (duplicates removed, order kept).
 * Throws on the first unknown name, naming its index within `where`.
 */
export function normalizeCapabilities(names: readonly string[], where = 'capabilities'): string[] {
  if (!Array.isArray(names)) {
    throw new BerthError('BERTH_CAPS_INVALID', `${where}: expected an array of capability names`, { status: 400 });
  }
  const out: string[] = [];
  const seen = new Set<string>();
  names.forEach((name, i) => {
    const canonical = CAPABILITY_NAMES[capabilityNumber(name, `${where}[${i}]`)]!;
    if (!seen.has(canonical)) {
      seen.add(canonical);
      out.push(canonical);
    }
  });
  return out;
}

/** Names → 64-bit mask as a bigint (bit n set for capability n). */
export function capabilityMask(names: readonly string[], where = 'capabilities'): bigint {
  let mask = 0n;
  names.forEach((name, i) => {
    mask |= 1n << BigInt(capabilityNumber(name, `${where}[${i}]`));
  });
  return mask;
}

/**
 * The two 32-bit words of a mask, as struct __user_cap_data_struct[2] wants
 * them for _LINUX_CAPABILITY_VERSION_3: [low word (caps 0–31), high word (32–63)].
 */
export function capabilityMaskWords(names: readonly string[], where = 'capabilities'): [number, number] {
  const mask = capabilityMask(names, where);
  return [Number(mask & 0xffffffffn), Number((mask >> 32n) & 0xffffffffn)];
}

/** Mask (bigint or [lo, hi]) → canonical names, lowest number first; a bit above CAP_LAST_KNOWN is an error. */
export function capabilityNamesFromMask(mask: bigint | readonly [number, number]): string[] {
  const m = typeof mask === 'bigint' ? mask : (BigInt(mask[0] >>> 0) | (BigInt(mask[1] >>> 0) << 32n));
  const out: string[] = [];
  for (let n = 0; n < 64; n++) {
    if ((m >> BigInt(n)) & 1n) out.push(capabilityName(n));
  }
  return out;
}

/**
 * The last capability the running kernel supports. Older kernels lack the
 * newest capabilities; asking for one there must be dropped or refused, not
 * passed to capset (which fails with EINVAL for the whole set).
 */
export function kernelLastCap(procFile = '/proc/sys/kernel/cap_last_cap'): number {
  let text: string;
  try {
    text = readFileSync(procFile, 'utf8');
  } catch (err) {
    throw new BerthError('BERTH_CAPS_LAST_CAP', `cannot read ${procFile}: ${(err as Error).message}`, { cause: err });
  }
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0 || n > 63) {
    throw new BerthError('BERTH_CAPS_LAST_CAP', `${procFile}: expected a capability number 0–63, got ${JSON.stringify(text.trim())}`);
  }
  return n;
}

/**
 * Split names into those this kernel supports and those it does not (numbers
 * above cap_last_cap), as runc does: a config written for a newer kernel still
 * runs, with the unsupported capabilities reported rather than fatal.
 */
export function partitionByKernelSupport(names: readonly string[], lastCap = kernelLastCap(), where = 'capabilities'): { supported: string[]; unsupported: string[] } {
  const supported: string[] = [];
  const unsupported: string[] = [];
  for (const name of normalizeCapabilities(names, where)) {
    (NUMBER_BY_NAME.get(name)! <= lastCap ? supported : unsupported).push(name);
  }
  return { supported, unsupported };
}

/** Every capability this kernel supports (what `--privileged` grants). */
export function allKernelCapabilities(lastCap = kernelLastCap()): string[] {
  return CAPABILITY_NAMES.slice(0, Math.min(lastCap, CAP_LAST_KNOWN) + 1);
}

/**
 * The capabilities this process may hand on: its own bounding set, read from
 * /proc/self/status (CapBnd). Root on some hosts lacks a few (these machines
 * have no CAP_SYS_RESOURCE); `--privileged` grants everything the engine
 * itself holds, since capset fails for a capability outside the bounding set.
 */
let ownBounding: string[] | undefined;

export function ownBoundingCapabilities(statusFile = '/proc/self/status'): string[] {
  // A process's bounding set only ever shrinks, and berthd never drops any: read it once.
  if (statusFile === '/proc/self/status' && ownBounding) return ownBounding;
  const caps = readBoundingCapabilities(statusFile);
  if (statusFile === '/proc/self/status') ownBounding = caps;
  return caps;
}

function readBoundingCapabilities(statusFile: string): string[] {
  let text = '';
  try {
    text = readFileSync(statusFile, 'utf8');
  } catch {
    return allKernelCapabilities();
  }
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  if (!hex) return allKernelCapabilities();
  const lastCap = Math.min(kernelLastCap(), CAP_LAST_KNOWN);
  return capabilityNamesFromMask(BigInt('0x' + hex) & ((1n << BigInt(lastCap + 1)) - 1n));
}
