import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CAPABILITY_NAMES,
  DOCKER_DEFAULT_CAPABILITIES,
  capabilityNumber,
  capabilityName,
  capabilityMask,
  capabilityMaskWords,
  capabilityNamesFromMask,
  normalizeCapabilities,
  kernelLastCap,
  partitionByKernelSupport,
  allKernelCapabilities,
} from '../../../src/runtime/capabilities.ts';

describe('capability tables', () => {
  test('numbers match the kernel ABI at both ends and in the middle', () => {
    assert.equal(capabilityNumber('CAP_CHOWN'), 0);
    assert.equal(capabilityNumber('CAP_NET_RAW'), 13);
    assert.equal(capabilityNumber('CAP_SYS_ADMIN'), 21);
    assert.equal(capabilityNumber('CAP_SETFCAP'), 31);
    assert.equal(capabilityNumber('CAP_MAC_OVERRIDE'), 32);
    assert.equal(capabilityNumber('CAP_CHECKPOINT_RESTORE'), 40);
    assert.equal(CAPABILITY_NAMES.length, 41);
    assert.equal(capabilityName(38), 'CAP_PERFMON');
  });

  test('names are accepted without prefix and in any case', () => {
    assert.equal(capabilityNumber('net_admin'), 12);
    assert.equal(capabilityNumber('cap_bpf'), 39);
    assert.deepEqual(normalizeCapabilities(['chown', 'CAP_CHOWN', 'Kill']), ['CAP_CHOWN', 'CAP_KILL']);
  });

  test('unknown names are clear errors naming the field', () => {
    assert.throws(() => normalizeCapabilities(['CAP_CHOWN', 'CAP_FLY'], 'process.capabilities.bounding'), (err: any) => {
      assert.equal(err.code, 'BERTH_CAPS_UNKNOWN');
      assert.match(err.message, /process\.capabilities\.bounding\[1\]/);
      assert.match(err.message, /CAP_FLY/);
      return true;
    });
    assert.throws(() => capabilityNumber(''), { code: 'BERTH_CAPS_UNKNOWN' });
    assert.throws(() => capabilityName(41), { code: 'BERTH_CAPS_UNKNOWN' });
    assert.throws(() => normalizeCapabilities('CAP_CHOWN' as any), { code: 'BERTH_CAPS_INVALID' });
  });

  test('masks split into the two u32 words capset takes', () => {
    assert.deepEqual(capabilityMaskWords(['CAP_CHOWN', 'CAP_KILL']), [0b100001, 0]);
    assert.deepEqual(capabilityMaskWords(['CAP_SETFCAP']), [0x80000000, 0]);
    assert.deepEqual(capabilityMaskWords(['CAP_MAC_OVERRIDE', 'CAP_CHECKPOINT_RESTORE']), [0, (1 << 0) | (1 << 8)]);
    assert.equal(capabilityMask(CAPABILITY_NAMES), (1n << 41n) - 1n);
    assert.deepEqual(capabilityNamesFromMask([0x80000001, 0x100]), ['CAP_CHOWN', 'CAP_SETFCAP', 'CAP_CHECKPOINT_RESTORE']);
    assert.throws(() => capabilityNamesFromMask(1n << 50n), { code: 'BERTH_CAPS_UNKNOWN' });
  });

  test("Docker's default set is the 14 moby grants", () => {
    assert.equal(DOCKER_DEFAULT_CAPABILITIES.length, 14);
    assert.ok(DOCKER_DEFAULT_CAPABILITIES.includes('CAP_NET_RAW'));
    assert.ok(!DOCKER_DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
    assert.ok(!DOCKER_DEFAULT_CAPABILITIES.includes('CAP_NET_ADMIN'));
    assert.deepEqual(normalizeCapabilities(DOCKER_DEFAULT_CAPABILITIES), [...DOCKER_DEFAULT_CAPABILITIES]);
  });

  test('kernel last cap is read from procfs, and unsupported caps are split off', () => {
    const host = kernelLastCap();
    assert.ok(host >= 36 && host <= 63, `cap_last_cap ${host}`);
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-caps-'));
    try {
      const f = join(dir, 'cap_last_cap');
      writeFileSync(f, '37\n');
      assert.equal(kernelLastCap(f), 37);
      assert.deepEqual(partitionByKernelSupport(['CAP_BPF', 'CAP_AUDIT_READ', 'CAP_PERFMON'], 37), {
        supported: ['CAP_AUDIT_READ'],
        unsupported: ['CAP_BPF', 'CAP_PERFMON'],
      });
      assert.equal(allKernelCapabilities(37).length, 38);
      writeFileSync(f, 'garbage');
      assert.throws(() => kernelLastCap(f), { code: 'BERTH_CAPS_LAST_CAP' });
      assert.throws(() => kernelLastCap(join(dir, 'missing')), /missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
