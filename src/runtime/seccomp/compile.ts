/**
 * Compile the OCI `linux.seccomp` section to a classic-BPF seccomp filter
 * (what libseccomp does for runc and crun), in TypeScript, so the launcher
 * only has to hand the bytes to seccomp(2).
 *
 * Shape of the program (hot path ≈ a dozen instructions for Docker's profile):
 *
 *   A = arch;  dispatch to the block of each covered audit arch, else KILL_PROCESS
 *   x86_64 block:  A = nr;  nr ≥ 0x40000000 → x32 tree (if SCMP_ARCH_X32) or deny
 *                  balanced binary search over sorted, merged number ranges
 *   leaf:          ret ACTION, or the syscall's argument checks (rules in order,
 *                  each an AND of 64-bit comparisons on hi/lo words), then its
 *                  unconditional action or the default action
 *
 * Semantics follow runc + libseccomp where the spec is silent:
 * - names unknown to an arch's table are skipped (they may be newer syscalls or
 *   another arch's), and reported in `ignoredSyscalls`;
 * - the native arch is always covered, `architectures` adds to it;
 * - a rule whose action equals the default action is dropped (runc);
 * - for a syscall, argument-conditioned rules are tried first in config order,
 *   then its unconditional rule, then the default action;
 * - a rule's conditions are ANDed, except when two of them test the same
 *   argument: then each condition is a rule of its own (ORed), as runc does;
 * - numbers above the highest syscall the profile names get ENOSYS rather than
 *   the default action (runc's patchbpf), so programs built for newer kernels
 *   fall back (glibc's clone3 → clone, fchmodat2 → fchmodat) instead of failing
 *   with EPERM. Disable with `enosysAboveKnown: false`.
 */
import { BerthError } from '../../common/errors.ts';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from '../../oci/runtime-spec.ts';
import { BpfAssembler, encodeProgram, type Label } from './bpf.ts';
import { ARCH_X32, X32_SYSCALL_BIT, nativeSeccompArch, resolveArch, type SeccompArch } from './arch.ts';

// linux/seccomp.h return values
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// linux/seccomp.h filter flags
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
});

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argLowOffset = (index: number) => 16 + 8 * index;
const argHighOffset = (index: number) => 20 + 8 * index;

const EPERM = 1;
const ENOSYS = 38;
const MAX_ERRNO = 4095;
const U64_MAX = (1n << 64n) - 1n;

export interface CompileSeccompOptions {
  /** Native arch, SCMP_ARCH_* (default: this host's). Always covered by the filter. */
  arch?: string;
  /** runc's ENOSYS for syscall numbers above the profile's highest (default true). */
  enosysAboveKnown?: boolean;
}

export interface CompiledSeccomp {
  /** struct sock_filter[] bytes for seccomp(SECCOMP_SET_MODE_FILTER). */
  program: Buffer;
  /** SECCOMP_FILTER_FLAG_* bits for the seccomp(2) call. */
  flags: number;
  /** Instruction count (program.length / 8). */
  instructions: number;
  /** Syscall names in the profile that no covered arch knows (skipped). */
  ignoredSyscalls: string[];
}

type Op = LinuxSeccompArg['op'];

interface Condition {
  index: number;
  op: Op;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  action: number;
  conditions: Condition[];
  where: string;
}

interface SyscallEntry {
  conditional: Rule[];
  unconditional?: Rule;
}

type Leaf = { kind: 'ret'; action: number } | { kind: 'syscall'; entry: SyscallEntry };

interface Segment {
  lo: number;
  hi: number;
  leaf: Leaf;
}

const badInput = (code: string, message: string) => new BerthError(code, message, { status: 400 });

/** The SECCOMP_RET_* value for an OCI action; errnoRet only for ERRNO and TRACE, as runc. */
export function seccompActionValue(action: string, errnoRet: number | undefined, where: string): number {
  if (errnoRet !== undefined && errnoRet !== null) {
    if (action !== 'SCMP_ACT_ERRNO' && action !== 'SCMP_ACT_TRACE') {
      throw badInput('BERTH_SECCOMP_ERRNO', `${where}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${action}`);
    }
    if (!Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > MAX_ERRNO) {
      throw badInput('BERTH_SECCOMP_ERRNO', `${where}: errnoRet must be an integer 0–${MAX_ERRNO}, got ${JSON.stringify(errnoRet)}`);
    }
  }
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | ((errnoRet ?? EPERM) & SECCOMP_RET_DATA)) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (SECCOMP_RET_TRACE | ((errnoRet ?? EPERM) & SECCOMP_RET_DATA)) >>> 0;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_NOTIFY':
      throw new BerthError(
        'BERTH_SECCOMP_UNSUPPORTED',
        `${where}: SCMP_ACT_NOTIFY is not supported by berth (no seccomp user-notification listener); use SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_TRACE or SCMP_ACT_LOG`,
        { status: 400 },
      );
    default:
      throw badInput('BERTH_SECCOMP_ACTION', `${where}: unknown seccomp action ${JSON.stringify(action)} (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE or SCMP_ACT_LOG)`);
  }
}

const OPS: ReadonlySet<string> = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

function toU64(value: unknown, where: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw badInput('BERTH_SECCOMP_ARG', `${where}: must be an unsigned 64-bit integer, got ${value}`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 64 - 1) {
    throw badInput('BERTH_SECCOMP_ARG', `${where}: must be an unsigned 64-bit integer, got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

function parseCondition(arg: LinuxSeccompArg, where: string): Condition {
  if (arg === null || typeof arg !== 'object') throw badInput('BERTH_SECCOMP_ARG', `${where}: must be an object {index, value, op}`);
  if (!Number.isInteger(arg.index) || arg.index < 0 || arg.index > 5) {
    throw badInput('BERTH_SECCOMP_ARG', `${where}.index: must be an argument index 0–5, got ${JSON.stringify(arg.index)}`);
  }
  if (!OPS.has(arg.op)) {
    throw badInput('BERTH_SECCOMP_OP', `${where}.op: unknown comparison ${JSON.stringify(arg.op)} (expected one of ${[...OPS].join(', ')})`);
  }
  return {
    index: arg.index,
    op: arg.op,
    value: toU64(arg.value ?? 0, `${where}.value`),
    valueTwo: toU64(arg.valueTwo ?? 0, `${where}.valueTwo`),
  };
}

function filterFlags(flags: readonly string[] | undefined): number {
  if (flags === undefined || flags === null) return 0;
  if (!Array.isArray(flags)) throw badInput('BERTH_SECCOMP_FLAG', 'linux.seccomp.flags: expected an array of SECCOMP_FILTER_FLAG_* names');
  let bits = 0;
  flags.forEach((flag, i) => {
    const bit = SECCOMP_FILTER_FLAGS[flag];
    if (bit === undefined) {
      const why = flag === 'SECCOMP_FILTER_FLAG_NEW_LISTENER' || flag === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' ? ' (needs a seccomp notify listener, which berth does not support)' : '';
      throw badInput('BERTH_SECCOMP_FLAG', `linux.seccomp.flags[${i}]: unsupported flag ${JSON.stringify(flag)}${why}; supported: ${Object.keys(SECCOMP_FILTER_FLAGS).join(', ')}`);
    }
    bits |= bit;
  });
  return bits;
}

/** Native arch first, then the listed ones with tables, deduplicated. */
function coveredArches(seccomp: LinuxSeccomp, native: string): SeccompArch[] {
  const out: SeccompArch[] = [];
  const add = (arch: SeccompArch | undefined) => {
    if (arch && !out.includes(arch)) out.push(arch);
  };
  const nativeArch = resolveArch(native, 'seccomp native arch');
  if (!nativeArch || nativeArch === ARCH_X32) {
    throw badInput('BERTH_SECCOMP_ARCH', `seccomp: cannot compile for native arch ${native} (supported: SCMP_ARCH_X86_64, SCMP_ARCH_X86)`);
  }
  add(nativeArch);
  const listed = seccomp.architectures ?? [];
  if (!Array.isArray(listed)) throw badInput('BERTH_SECCOMP_ARCH', 'linux.seccomp.architectures: expected an array of SCMP_ARCH_* names');
  listed.forEach((name, i) => add(resolveArch(name, `linux.seccomp.architectures[${i}]`)));
  // x32 rides on the x86_64 audit token; it only exists under an x86_64 kernel.
  if (out.includes(ARCH_X32) && !out.some((a) => a.name === 'SCMP_ARCH_X86_64')) {
    throw badInput('BERTH_SECCOMP_ARCH', 'linux.seccomp.architectures: SCMP_ARCH_X32 needs SCMP_ARCH_X86_64 as well');
  }
  return out;
}

/**
 * berthd starts many containers with the same few profiles (Docker's default
 * for a handful of capability sets): remember recent results. Keyed by the
 * profile's JSON, so equal profiles hit whatever object they arrive in.
 */
const CACHE_SIZE = 32;
const cache = new Map<string, CompiledSeccomp>();

export function compileSeccomp(seccomp: LinuxSeccomp, opts: CompileSeccompOptions = {}): CompiledSeccomp {
  if (seccomp === null || typeof seccomp !== 'object') throw badInput('BERTH_SECCOMP_INVALID', 'linux.seccomp: expected an object');
  let key: string | undefined;
  try {
    key = JSON.stringify([seccomp, opts.arch ?? null, opts.enosysAboveKnown ?? true]);
  } catch {
    key = undefined; // BigInt values or cycles: just compile
  }
  const hit = key === undefined ? undefined : cache.get(key);
  if (hit) return copyResult(hit);
  const result = compileUncached(seccomp, opts);
  if (key !== undefined) {
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(key, result);
  }
  return copyResult(result);
}

/** Callers own what they get: a cached program must not be changed through them. */
function copyResult(r: CompiledSeccomp): CompiledSeccomp {
  return { program: Buffer.from(r.program), flags: r.flags, instructions: r.instructions, ignoredSyscalls: [...r.ignoredSyscalls] };
}

function compileUncached(seccomp: LinuxSeccomp, opts: CompileSeccompOptions): CompiledSeccomp {
  if (seccomp.defaultAction === undefined) throw badInput('BERTH_SECCOMP_ACTION', 'linux.seccomp.defaultAction: required');
  const defaultAction = seccompActionValue(seccomp.defaultAction, seccomp.defaultErrnoRet, 'linux.seccomp.defaultAction');
  const flags = filterFlags(seccomp.flags as string[] | undefined);
  if (seccomp.listenerPath) {
    throw new BerthError('BERTH_SECCOMP_UNSUPPORTED', 'linux.seccomp.listenerPath: seccomp notify listeners are not supported by berth', { status: 400 });
  }
  const arches = coveredArches(seccomp, opts.arch ?? nativeSeccompArch());
  const permissiveDefault = defaultAction === SECCOMP_RET_ALLOW || defaultAction === SECCOMP_RET_LOG || (defaultAction & SECCOMP_RET_ACTION_FULL) >>> 0 === SECCOMP_RET_TRACE;
  // What a syscall from an ABI the profile does not cover gets: denied like the
  // default does, but never let through by a permissive default.
  const foreignAction = permissiveDefault ? SECCOMP_RET_KILL_PROCESS : defaultAction;

  const tables = new Map<SeccompArch, Map<number, SyscallEntry>>(arches.map((a) => [a, new Map()]));
  const highestNamed = new Map<SeccompArch, number>();
  const ignored = new Set<string>();

  const rules = seccomp.syscalls ?? [];
  if (!Array.isArray(rules)) throw badInput('BERTH_SECCOMP_INVALID', 'linux.seccomp.syscalls: expected an array');
  rules.forEach((sc: LinuxSyscall, i) => {
    const where = `linux.seccomp.syscalls[${i}]`;
    if (sc === null || typeof sc !== 'object') throw badInput('BERTH_SECCOMP_INVALID', `${where}: expected an object {names, action}`);
    if (!Array.isArray(sc.names) || sc.names.length === 0) throw badInput('BERTH_SECCOMP_INVALID', `${where}.names: expected a non-empty array of syscall names`);
    const action = seccompActionValue(sc.action, sc.errnoRet, `${where}.action`);
    const conditions = (sc.args ?? []).map((arg, j) => parseCondition(arg, `${where}.args[${j}]`));
    // runc (matchCall): when two conditions test the same argument, each
    // condition becomes a rule of its own (ORed), not one ANDed rule.
    const sameArgTwice = new Set(conditions.map((c) => c.index)).size < conditions.length;
    const ruleConditions = sameArgTwice ? conditions.map((c) => [c]) : [conditions];
    sc.names.forEach((name, j) => {
      if (typeof name !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(name)) {
        throw badInput('BERTH_SECCOMP_INVALID', `${where}.names[${j}]: not a syscall name: ${JSON.stringify(name)}`);
      }
      let known = false;
      for (const arch of arches) {
        const nr = arch.syscalls[name];
        if (nr === undefined) continue;
        known = true;
        highestNamed.set(arch, Math.max(highestNamed.get(arch) ?? -1, nr));
        if (action === defaultAction) continue;
        const table = tables.get(arch)!;
        let entry = table.get(nr);
        if (!entry) {
          entry = { conditional: [] };
          table.set(nr, entry);
        }
        if (conditions.length > 0) {
          for (const c of ruleConditions) entry.conditional.push({ action, conditions: c, where });
        } else if (entry.unconditional) {
          // A second unconditional rule for the same syscall: libseccomp keeps
          // the first one and accepts the profile (podman's own seccomp.json
          // allows setns, then lists it again under an errno rule for
          // containers without CAP_SYS_ADMIN), so the first rule wins here too.
        } else {
          entry.unconditional = { action, conditions, where };
        }
      }
      if (!known) ignored.add(name);
    });
  });
  // A conditional rule that ends where the unconditional one does changes nothing.
  for (const table of tables.values()) {
    for (const entry of table.values()) {
      if (entry.unconditional) entry.conditional = entry.conditional.filter((r) => r.action !== entry.unconditional!.action);
    }
  }

  const enosys = opts.enosysAboveKnown !== false && !permissiveDefault ? (SECCOMP_RET_ERRNO | ENOSYS) >>> 0 : defaultAction;
  const asm = new BpfAssembler();
  const archLabels = new Map<number, Label>();
  asm.ldAbs(OFFSET_ARCH);
  for (const arch of arches) {
    if (arch === ARCH_X32 || archLabels.has(arch.auditArch)) continue;
    const label = asm.label(arch.name);
    archLabels.set(arch.auditArch, label);
    const next = asm.label('next-arch');
    asm.jump('jeq', arch.auditArch, label, next);
    asm.bind(next);
  }
  asm.ret(SECCOMP_RET_KILL_PROCESS);

  for (const arch of arches) {
    if (arch === ARCH_X32) continue;
    asm.bind(archLabels.get(arch.auditArch)!);
    asm.ldAbs(OFFSET_NR);
    const table = tables.get(arch)!;
    const above = (highestNamed.get(arch) ?? -1) + 1;
    if (arch.name === 'SCMP_ARCH_X86_64') {
      const native = asm.label('x86_64');
      const x32 = asm.label('x32');
      asm.jump('jge', X32_SYSCALL_BIT, x32, native);
      asm.bind(native);
      emitTree(asm, segments(table, 0, X32_SYSCALL_BIT - 1, above, defaultAction, enosys), defaultAction);
      asm.bind(x32);
      const x32Arch = arches.find((a) => a === ARCH_X32);
      if (x32Arch) {
        const x32Above = Math.max((highestNamed.get(x32Arch) ?? -1) + 1, X32_SYSCALL_BIT);
        const segs = segments(tables.get(x32Arch)!, X32_SYSCALL_BIT, 0xfffffffe, x32Above, defaultAction, enosys);
        // nr -1 is a tracer's "skip this syscall": the default action, as libseccomp.
        segs.push({ lo: 0xffffffff, hi: 0xffffffff, leaf: { kind: 'ret', action: defaultAction } });
        emitTree(asm, mergeSegments(segs), defaultAction);
      } else {
        asm.ret(foreignAction);
      }
    } else {
      emitTree(asm, segments(table, 0, 0xffffffff, above, defaultAction, enosys), defaultAction);
    }
  }

  const insns = asm.assemble();
  const program = encodeProgram(insns);
  return { program, flags, instructions: insns.length, ignoredSyscalls: [...ignored].sort() };
}

/**
 * Cover [lo, hi] with ranges: each named syscall its own leaf, gaps the
 * default action, numbers from `above` on ENOSYS. Adjacent ranges that just
 * return the same value are merged, which is what keeps the search tree small
 * (Docker's ~350 allowed syscalls collapse to a few dozen ranges).
 */
function segments(table: Map<number, SyscallEntry>, lo: number, hi: number, above: number, defaultAction: number, enosys: number): Segment[] {
  const out: Segment[] = [];
  const gap = (from: number, to: number) => {
    if (from > to) return;
    const split = Math.max(from, Math.min(above, to + 1));
    if (split > from) out.push({ lo: from, hi: split - 1, leaf: { kind: 'ret', action: defaultAction } });
    if (split <= to) out.push({ lo: split, hi: to, leaf: { kind: 'ret', action: enosys } });
  };
  let cursor = lo;
  for (const nr of [...table.keys()].sort((a, b) => a - b)) {
    if (nr < lo || nr > hi) continue;
    gap(cursor, nr - 1);
    const entry = table.get(nr)!;
    const leaf: Leaf = entry.conditional.length === 0 ? { kind: 'ret', action: entry.unconditional!.action } : { kind: 'syscall', entry };
    out.push({ lo: nr, hi: nr, leaf });
    cursor = nr + 1;
  }
  gap(cursor, hi);
  return mergeSegments(out);
}

function mergeSegments(segs: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const seg of segs) {
    const last = out[out.length - 1];
    if (last && last.leaf.kind === 'ret' && seg.leaf.kind === 'ret' && last.leaf.action === seg.leaf.action && last.hi + 1 === seg.lo) {
      last.hi = seg.hi;
    } else {
      out.push({ ...seg });
    }
  }
  return out;
}

/** Balanced binary search over the ranges; A holds the syscall number. */
function emitTree(asm: BpfAssembler, segs: Segment[], defaultAction: number): void {
  const emit = (i: number, j: number) => {
    if (i === j) {
      emitLeaf(asm, segs[i]!.leaf, defaultAction);
      return;
    }
    const mid = (i + j + 1) >> 1;
    const right = asm.label('ge');
    const left = asm.label('lt');
    asm.jump('jge', segs[mid]!.lo, right, left);
    asm.bind(left);
    emit(i, mid - 1);
    asm.bind(right);
    emit(mid, j);
  };
  emit(0, segs.length - 1);
}

function emitLeaf(asm: BpfAssembler, leaf: Leaf, defaultAction: number): void {
  if (leaf.kind === 'ret') {
    asm.ret(leaf.action);
    return;
  }
  for (const rule of leaf.entry.conditional) {
    const nextRule = asm.label('next-rule');
    for (const cond of rule.conditions) emitCondition(asm, cond, nextRule);
    asm.ret(rule.action);
    asm.bind(nextRule);
  }
  // Leaves are only built for syscalls whose action differs from the default,
  // but a syscall may have conditional rules alone.
  asm.ret(leaf.entry.unconditional?.action ?? defaultAction);
}

const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
const lo32 = (v: bigint) => Number(v & 0xffffffffn);

/**
 * Falls through when the 64-bit comparison holds, jumps to `fail` when not.
 * Seccomp sees each argument as a u64; BPF compares 32-bit words, so compare
 * the high words first and only look at the low words when they are equal.
 */
function emitCondition(asm: BpfAssembler, c: Condition, fail: Label): void {
  const pass = asm.label('pass');
  const next = () => asm.label('next');
  const vh = hi32(c.value);
  const vl = lo32(c.value);
  const hiOff = argHighOffset(c.index);
  const loOff = argLowOffset(c.index);
  switch (c.op) {
    case 'SCMP_CMP_EQ': {
      const n = next();
      asm.ldAbs(hiOff);
      asm.jump('jeq', vh, n, fail);
      asm.bind(n);
      asm.ldAbs(loOff);
      asm.jump('jeq', vl, pass, fail);
      break;
    }
    case 'SCMP_CMP_NE': {
      const n = next();
      asm.ldAbs(hiOff);
      asm.jump('jeq', vh, n, pass);
      asm.bind(n);
      asm.ldAbs(loOff);
      asm.jump('jeq', vl, fail, pass);
      break;
    }
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE': {
      const n1 = next();
      const n2 = next();
      asm.ldAbs(hiOff);
      asm.jump('jgt', vh, pass, n1);
      asm.bind(n1);
      asm.jump('jeq', vh, n2, fail);
      asm.bind(n2);
      asm.ldAbs(loOff);
      asm.jump(c.op === 'SCMP_CMP_GT' ? 'jgt' : 'jge', vl, pass, fail);
      break;
    }
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      // a < v  ⇔  !(a ≥ v);  a ≤ v  ⇔  !(a > v)
      const n1 = next();
      const n2 = next();
      asm.ldAbs(hiOff);
      asm.jump('jgt', vh, fail, n1);
      asm.bind(n1);
      asm.jump('jeq', vh, n2, pass);
      asm.bind(n2);
      asm.ldAbs(loOff);
      asm.jump(c.op === 'SCMP_CMP_LT' ? 'jge' : 'jgt', vl, fail, pass);
      break;
    }
    case 'SCMP_CMP_MASKED_EQ': {
      // OCI: value is the mask, valueTwo the expected result of arg & mask.
      const n = next();
      const dh = hi32(c.valueTwo);
      const dl = lo32(c.valueTwo);
      asm.ldAbs(hiOff);
      asm.andK(vh);
      asm.jump('jeq', dh, n, fail);
      asm.bind(n);
      asm.ldAbs(loOff);
      asm.andK(vl);
      asm.jump('jeq', dl, pass, fail);
      break;
    }
  }
  asm.bind(pass);
}
