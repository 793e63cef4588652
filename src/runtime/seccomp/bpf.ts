/**
 * A tiny classic-BPF assembler for seccomp filters: symbolic labels instead of
 * hand-counted offsets, and automatic trampolines for jumps that do not fit.
 *
 * Classic BPF only jumps forward, and a conditional jump's true/false offsets
 * are 8 bits (≤ 255 instructions); only `ja` has a 32-bit offset. Profiles
 * like Docker's produce programs long enough that a branch near the top may
 * need to reach far down, so `assemble` rewrites such a branch to land on an
 * adjacent `ja` that carries the long distance — repeated until every branch
 * fits, since each insertion moves the code behind it.
 */
import { BerthError } from '../../common/errors.ts';

// linux/bpf_common.h
export const BPF_LD = 0x00;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_ABS = 0x20;
export const BPF_K = 0x00;
export const BPF_AND = 0x50;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

/** The kernel refuses longer filters (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k. */
export const SOCK_FILTER_SIZE = 8;

export interface Label {
  readonly id: number;
  readonly name: string;
}

export type JumpOp = 'jeq' | 'jgt' | 'jge' | 'jset';

const JUMP_CODE: Record<JumpOp, number> = {
  jeq: BPF_JMP | BPF_JEQ | BPF_K,
  jgt: BPF_JMP | BPF_JGT | BPF_K,
  jge: BPF_JMP | BPF_JGE | BPF_K,
  jset: BPF_JMP | BPF_JSET | BPF_K,
};

type Item =
  | { kind: 'ld'; k: number }
  | { kind: 'and'; k: number }
  | { kind: 'ret'; k: number }
  | { kind: 'ja'; target: Label }
  | { kind: 'jmp'; op: JumpOp; k: number; jt: Label; jf: Label }
  | { kind: 'label'; label: Label };

/** One decoded instruction, as the kernel sees it. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export class BpfAssembler {
  private items: Item[] = [];
  private nextLabel = 0;

  label(name = 'L'): Label {
    return { id: this.nextLabel++, name };
  }

  /** Place a label here: jumps to it land on the next instruction emitted. */
  bind(label: Label): void {
    this.items.push({ kind: 'label', label });
  }

  /** A = 32-bit word at byte offset `offset` of struct seccomp_data. */
  ldAbs(offset: number): void {
    this.items.push({ kind: 'ld', k: offset });
  }

  andK(k: number): void {
    this.items.push({ kind: 'and', k: k >>> 0 });
  }

  ret(k: number): void {
    this.items.push({ kind: 'ret', k: k >>> 0 });
  }

  ja(target: Label): void {
    this.items.push({ kind: 'ja', target });
  }

  /** if (A op k) goto jt else goto jf. */
  jump(op: JumpOp, k: number, jt: Label, jf: Label): void {
    this.items.push({ kind: 'jmp', op, k: k >>> 0, jt, jf });
  }

  /** Resolve labels, insert trampolines for far branches, return the instructions. */
  assemble(): SockFilter[] {
    let items = this.items;
    for (;;) {
      const { positions, labelPos } = layout(items);
      const expanded: Item[] = [];
      let changed = false;
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item.kind !== 'jmp') {
          expanded.push(item);
          continue;
        }
        const pos = positions[i]!;
        const tFar = offsetOf(labelPos, item.jt, pos) > 255;
        const fFar = offsetOf(labelPos, item.jf, pos) > 255;
        if (!tFar && !fFar) {
          expanded.push(item);
          continue;
        }
        changed = true;
        const jt = tFar ? this.label('tramp') : item.jt;
        const jf = fFar ? this.label('tramp') : item.jf;
        expanded.push({ ...item, jt, jf });
        if (tFar) {
          expanded.push({ kind: 'label', label: jt }, { kind: 'ja', target: item.jt });
        }
        if (fFar) {
          expanded.push({ kind: 'label', label: jf }, { kind: 'ja', target: item.jf });
        }
      }
      items = expanded;
      if (!changed) break;
    }
    const { positions, labelPos, count } = layout(items);
    const out: SockFilter[] = [];
    items.forEach((item, i) => {
      const pos = positions[i]!;
      switch (item.kind) {
        case 'label':
          return;
        case 'ld':
          out.push({ code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: item.k });
          return;
        case 'and':
          out.push({ code: BPF_ALU | BPF_AND | BPF_K, jt: 0, jf: 0, k: item.k });
          return;
        case 'ret':
          out.push({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: item.k });
          return;
        case 'ja':
          out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: offsetOf(labelPos, item.target, pos) });
          return;
        case 'jmp':
          out.push({ code: JUMP_CODE[item.op], jt: offsetOf(labelPos, item.jt, pos), jf: offsetOf(labelPos, item.jf, pos), k: item.k });
          return;
      }
    });
    if (out.length !== count) throw new Error('bpf assembler: layout mismatch');
    return out;
  }
}

function layout(items: Item[]): { positions: number[]; labelPos: Map<number, number>; count: number } {
  const positions: number[] = [];
  const labelPos = new Map<number, number>();
  let pos = 0;
  for (const item of items) {
    positions.push(pos);
    if (item.kind === 'label') labelPos.set(item.label.id, pos);
    else pos++;
  }
  return { positions, labelPos, count: pos };
}

function offsetOf(labelPos: Map<number, number>, label: Label, pos: number): number {
  const target = labelPos.get(label.id);
  if (target === undefined) throw new Error(`bpf assembler: label ${label.name}#${label.id} never bound`);
  const offset = target - pos - 1;
  if (offset < 0) throw new Error(`bpf assembler: backward jump to ${label.name}#${label.id} (classic BPF jumps forward only)`);
  return offset;
}

/** struct sock_filter[] in native (little-endian) byte order, as seccomp(2) takes it. */
export function encodeProgram(insns: readonly SockFilter[]): Buffer {
  if (insns.length === 0 || insns.length > BPF_MAXINSNS) {
    throw new BerthError('BERTH_SECCOMP_TOO_LARGE', `seccomp: the compiled filter has ${insns.length} instructions; the kernel accepts 1–${BPF_MAXINSNS}`, { status: 400 });
  }
  const buf = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((insn, i) => {
    const at = i * SOCK_FILTER_SIZE;
    buf.writeUInt16LE(insn.code, at);
    buf.writeUInt8(insn.jt, at + 2);
    buf.writeUInt8(insn.jf, at + 3);
    buf.writeUInt32LE(insn.k >>> 0, at + 4);
  });
  return buf;
}

export function decodeProgram(buf: Buffer): SockFilter[] {
  if (buf.length % SOCK_FILTER_SIZE !== 0) {
    throw new BerthError('BERTH_SECCOMP_BAD_PROGRAM', `seccomp: program length ${buf.length} is not a multiple of ${SOCK_FILTER_SIZE}`, { status: 400 });
  }
  const out: SockFilter[] = [];
  for (let at = 0; at < buf.length; at += SOCK_FILTER_SIZE) {
    out.push({ code: buf.readUInt16LE(at), jt: buf.readUInt8(at + 2), jf: buf.readUInt8(at + 3), k: buf.readUInt32LE(at + 4) });
  }
  return out;
}
