/**
 * cgroup v2 device confinement: OCI `linux.resources.devices` compiled to an
 * eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE. The kernel runs it on
 * every device open/mknod by a process in the group (or below) and denies the
 * access when it returns 0.
 *
 * Loading needs bpf(2), which Node cannot call: whoever holds native code (the
 * launcher) does
 *   fd  = bpf(BPF_PROG_LOAD, { prog_type: BPF_PROG_TYPE_CGROUP_DEVICE (15),
 *                             insns, insn_cnt, license: "Apache" })
 *   bpf(BPF_PROG_ATTACH, { target_fd: open(cgroupDir, O_DIRECTORY),
 *                          attach_bpf_fd: fd, attach_type: BPF_CGROUP_DEVICE (6),
 *                          attach_flags: BPF_F_ALLOW_MULTI (2) })
 * (test/integration/cgroups/device-attach.c is a complete example.)
 *
 * Semantics follow the v1 devices controller the rules were written for: a
 * fresh group allows everything, each rule overrides the ones before it, so
 * the program tries the rules last-to-first and the first that matches
 * decides. An allow rule matches when it grants every requested access bit; a
 * deny rule when it forbids any of them.
 */
import { BerthError } from '../../common/errors.ts';
import type { LinuxDeviceCgroup } from '../../oci/runtime-spec.ts';

export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;
export const DEVICE_PROGRAM_LICENSE = 'Apache';

// struct bpf_cgroup_dev_ctx { __u32 access_type; __u32 major; __u32 minor; }
// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC_MKNOD = 1;
const ACC_READ = 2;
const ACC_WRITE = 4;

// eBPF opcodes (linux/bpf.h, linux/bpf_common.h)
const LDX_W_MEM = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X = 0xbf; // dst = src
const MOV64_K = 0xb7; // dst = imm
const AND64_K = 0x57; // dst &= imm
const RSH64_K = 0x77; // dst >>= imm
const JNE_K = 0x55; // if dst != imm goto +off
const JEQ_K = 0x15; // if dst == imm goto +off
const EXIT = 0x95;

const R0 = 0;
const R1 = 1; // ctx
const R2 = 2; // access_type
const R3 = 3; // device type
const R4 = 4; // requested access
const R5 = 5; // major
const R6 = 6; // minor
const R7 = 7; // scratch

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

function accessBits(access: string | undefined, where: string): number {
  const a = access ?? 'rwm';
  if (!/^[rwm]{1,3}$/.test(a)) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.access ${JSON.stringify(a)}: expected a combination of r, w and m`, { status: 400 });
  }
  return (a.includes('m') ? ACC_MKNOD : 0) | (a.includes('r') ? ACC_READ : 0) | (a.includes('w') ? ACC_WRITE : 0);
}

function deviceNumber(n: number | null | undefined, where: string): number | undefined {
  if (n === undefined || n === null || n === -1) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}: expected a device number or null, got ${JSON.stringify(n)}`, { status: 400 });
  }
  return n;
}

/** struct bpf_insn[] bytes (little endian) deciding the rules. */
export function compileDeviceProgram(rules: readonly LinuxDeviceCgroup[]): Buffer {
  if (!Array.isArray(rules)) throw new BerthError('BERTH_CGROUPS_RESOURCE', 'linux.resources.devices: expected an array', { status: 400 });
  const body: Insn[] = [];
  // Rules last-to-first: the last matching rule wins. A rule that matches
  // everything ends the program: the kernel's verifier rejects code after it.
  let decided = false;
  for (let i = rules.length - 1; i >= 0 && !decided; i--) {
    const rule = rules[i]!;
    const where = `linux.resources.devices[${i}]`;
    if (typeof rule?.allow !== 'boolean') throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.allow: expected true or false`, { status: 400 });
    const type = rule.type ?? 'a';
    if (!['a', 'b', 'c'].includes(type)) throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.type ${JSON.stringify(type)}: expected a, b or c`, { status: 400 });
    const access = accessBits(rule.access, where);
    const major = type === 'a' ? undefined : deviceNumber(rule.major, `${where}.major`);
    const minor = type === 'a' ? undefined : deviceNumber(rule.minor, `${where}.minor`);
    // Each check jumps to the end of this rule's block when it does not match;
    // offsets are filled in once the block's length is known.
    const block: Insn[] = [];
    const skips: number[] = [];
    const skipUnless = (reg: number, value: number) => {
      skips.push(block.length);
      block.push(insn(JNE_K, reg, 0, 0, value));
    };
    if (type !== 'a') skipUnless(R3, type === 'b' ? DEV_BLOCK : DEV_CHAR);
    if (major !== undefined) skipUnless(R5, major);
    if (minor !== undefined) skipUnless(R6, minor);
    if (access !== (ACC_MKNOD | ACC_READ | ACC_WRITE)) {
      block.push(insn(MOV64_X, R7, R4, 0, 0));
      if (rule.allow) {
        // matches only if nothing outside the granted bits is requested
        block.push(insn(AND64_K, R7, 0, 0, ~access & 7));
        skipUnless(R7, 0);
      } else {
        // matches if any forbidden bit is requested
        block.push(insn(AND64_K, R7, 0, 0, access));
        skips.push(block.length);
        block.push(insn(JEQ_K, R7, 0, 0, 0));
      }
    }
    block.push(insn(MOV64_K, R0, 0, 0, rule.allow ? 1 : 0));
    block.push(insn(EXIT, 0, 0, 0, 0));
    for (const at of skips) block[at]!.off = block.length - at - 1;
    body.push(...block);
    decided = skips.length === 0;
  }
  const program: Insn[] = [
    insn(LDX_W_MEM, R2, R1, 0, 0),
    insn(MOV64_X, R3, R2, 0, 0),
    insn(AND64_K, R3, 0, 0, 0xffff),
    insn(MOV64_X, R4, R2, 0, 0),
    insn(RSH64_K, R4, 0, 0, 16),
    insn(LDX_W_MEM, R5, R1, 4, 0),
    insn(LDX_W_MEM, R6, R1, 8, 0),
    ...body,
  ];
  if (!decided) {
    // No rule matched: a fresh v1 devices group allows everything.
    program.push(insn(MOV64_K, R0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0));
  }
  if (program.length > 4096) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.devices: ${rules.length} rules make a device program of ${program.length} instructions (limit 4096)`, { status: 400 });
  }
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((p, i) => {
    buf.writeUInt8(p.code, i * 8);
    buf.writeUInt8((p.src << 4) | p.dst, i * 8 + 1);
    buf.writeInt16LE(p.off, i * 8 + 2);
    buf.writeInt32LE(p.imm | 0, i * 8 + 4);
  });
  return buf;
}

/** Evaluate the rules the way the compiled program does (for tests and for `berth inspect`-style explanations). */
export function deviceAccessAllowed(rules: readonly LinuxDeviceCgroup[], type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  const want = accessBits(access, 'access');
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    const t = r.type ?? 'a';
    if (t !== 'a' && t !== type) continue;
    if (t !== 'a' && r.major !== undefined && r.major !== null && r.major !== -1 && r.major !== major) continue;
    if (t !== 'a' && r.minor !== undefined && r.minor !== null && r.minor !== -1 && r.minor !== minor) continue;
    const bits = accessBits(r.access, `linux.resources.devices[${i}]`);
    if (r.allow ? (want & ~bits) !== 0 : (want & bits) === 0) continue;
    return r.allow;
  }
  return true;
}
