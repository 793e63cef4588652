/**
 * A classic-BPF interpreter for the subset seccomp filters use, to check what
 * a compiled program decides for a given syscall without installing it.
 * Written from the kernel's semantics (net/core/filter.c, seccomp_check_filter):
 * 32-bit A, forward jumps only, a return is mandatory.
 */
import { decodeProgram } from '../../../src/runtime/seccomp/bpf.ts';

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args?: (bigint | number)[];
}

export interface RunResult {
  ret: number;
  /** Instructions executed, to check the hot path stays short. */
  steps: number;
}

function dataWord(data: SeccompData, offset: number): number {
  const buf = Buffer.alloc(64);
  buf.writeInt32LE(data.nr | 0, 0);
  buf.writeUInt32LE(data.arch >>> 0, 4);
  buf.writeBigUInt64LE(data.instructionPointer ?? 0n, 8);
  (data.args ?? []).forEach((a, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  if (offset % 4 !== 0 || offset > 60) throw new Error(`bad seccomp_data offset ${offset}`);
  return buf.readUInt32LE(offset);
}

export function runFilter(program: Buffer, data: SeccompData): RunResult {
  const insns = decodeProgram(program);
  let a = 0;
  let pc = 0;
  let steps = 0;
  for (;;) {
    const insn = insns[pc];
    if (!insn) throw new Error(`fell off the program at ${pc}`);
    steps++;
    switch (insn.code) {
      case 0x20: // ld [k]
        a = dataWord(data, insn.k);
        pc++;
        break;
      case 0x54: // and #k
        a = (a & insn.k) >>> 0;
        pc++;
        break;
      case 0x06: // ret #k
        return { ret: insn.k >>> 0, steps };
      case 0x05: // ja
        pc += 1 + insn.k;
        break;
      case 0x15: // jeq
        pc += 1 + (a === insn.k ? insn.jt : insn.jf);
        break;
      case 0x25: // jgt
        pc += 1 + (a > insn.k ? insn.jt : insn.jf);
        break;
      case 0x35: // jge
        pc += 1 + (a >= insn.k ? insn.jt : insn.jf);
        break;
      case 0x45: // jset
        pc += 1 + ((a & insn.k) !== 0 ? insn.jt : insn.jf);
        break;
      default:
        throw new Error(`unexpected opcode 0x${insn.code.toString(16)} at ${pc}`);
    }
  }
}
