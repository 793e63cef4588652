import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeviceProgram, deviceAccessAllowed } from '../../../src/runtime/cgroups/devices-ebpf.ts';
import type { LinuxDeviceCgroup } from '../../../src/oci/runtime-spec.ts';

/** Interpreter for the eBPF subset the device compiler emits (64-bit registers). */
function runDeviceProgram(program: Buffer, ctx: { type: number; access: number; major: number; minor: number }): number {
  const mem = [((ctx.access << 16) | ctx.type) >>> 0, ctx.major >>> 0, ctx.minor >>> 0];
  const r = new Array<bigint>(11).fill(0n);
  const M = (1n << 64n) - 1n;
  let pc = 0;
  for (let steps = 0; steps < 10000; steps++) {
    const at = pc * 8;
    if (at >= program.length) throw new Error(`fell off at ${pc}`);
    const code = program.readUInt8(at);
    const regs = program.readUInt8(at + 1);
    const dst = regs & 0xf;
    const src = regs >> 4;
    const off = program.readInt16LE(at + 2);
    const imm = BigInt.asUintN(64, BigInt(program.readInt32LE(at + 4)));
    pc++;
    switch (code) {
      case 0x61: {
        assert.equal(src, 1, 'loads only from the ctx');
        r[dst] = BigInt(mem[(Number(r[src]) + off) / 4]!);
        break;
      }
      case 0xbf: r[dst] = r[src]!; break;
      case 0xb7: r[dst] = imm; break;
      case 0x57: r[dst] = r[dst]! & imm & M; break;
      case 0x77: r[dst] = r[dst]! >> imm; break;
      case 0x55: if (r[dst] !== imm) pc += off; break;
      case 0x15: if (r[dst] === imm) pc += off; break;
      case 0x95: return Number(r[0]);
      default: throw new Error(`opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('no exit');
}

const ACC = { m: 1, r: 2, w: 4 } as const;
const bits = (a: string) => [...a].reduce((n, c) => n | ACC[c as 'r'], 0);

const DOCKER_LIKE: LinuxDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
  { allow: true, type: 'c', major: 136, minor: null, access: 'rwm' },
  { allow: true, type: 'b', major: null, minor: null, access: 'm' },
  { allow: false, type: 'c', major: 136, minor: 7, access: 'w' },
];

describe('cgroup v2 device program', () => {
  test('rule semantics: last match wins, allow needs every bit, deny any bit', () => {
    const a = (t: 'b' | 'c', ma: number, mi: number, acc: string) => deviceAccessAllowed(DOCKER_LIKE, t, ma, mi, acc);
    assert.equal(a('c', 1, 3, 'rw'), true);
    assert.equal(a('c', 1, 5, 'r'), true);
    assert.equal(a('c', 1, 5, 'rw'), false, 'read-only zero');
    assert.equal(a('c', 1, 7, 'r'), false, 'full not listed');
    assert.equal(a('c', 136, 2, 'rw'), true, 'any pts');
    assert.equal(a('c', 136, 7, 'r'), true);
    assert.equal(a('c', 136, 7, 'w'), false, 'later deny of w');
    assert.equal(a('b', 8, 0, 'm'), true);
    assert.equal(a('b', 8, 0, 'r'), false);
    assert.equal(deviceAccessAllowed([], 'c', 1, 1, 'rwm'), true, 'no rules: a fresh group allows all');
  });

  test('the compiled program decides exactly like the rules, for every combination', () => {
    for (const rules of [DOCKER_LIKE, [], [{ allow: false, access: 'rwm' }], [{ allow: true, access: 'r' }, { allow: false, type: 'b', access: 'w' }]] as LinuxDeviceCgroup[][]) {
      const program = compileDeviceProgram(rules);
      for (const type of ['b', 'c'] as const) {
        for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [136, 2], [136, 7], [8, 0]]) {
          for (const acc of ['r', 'w', 'm', 'rw', 'rwm', 'wm']) {
            const got = runDeviceProgram(program, { type: type === 'b' ? 1 : 2, access: bits(acc), major: major!, minor: minor! });
            assert.equal(got === 1, deviceAccessAllowed(rules, type, major!, minor!, acc), `${JSON.stringify(rules)} ${type} ${major}:${minor} ${acc}`);
          }
        }
      }
    }
  });

  test('bad rules are clear errors naming the rule', () => {
    assert.throws(() => compileDeviceProgram([{ allow: true, type: 'z' }]), /devices\[0\]\.type/);
    assert.throws(() => compileDeviceProgram([{ allow: true, type: 'c', major: 1, minor: 3, access: 'x' }]), /devices\[0\]\.access/);
    assert.throws(() => compileDeviceProgram([{ allow: true }, { allow: 'yes' as unknown as boolean }]), /devices\[1\]\.allow/);
    assert.throws(() => compileDeviceProgram([{ allow: true, type: 'c', major: -5 }]), /devices\[0\]\.major/);
  });
});
