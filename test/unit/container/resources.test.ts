import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpuList, validateResources } from '../../../src/container/resources.ts';

test('cpu lists parse as the kernel writes them; malformed ones are undefined', () => {
  assert.deepEqual([...parseCpuList('0-2,5')!], [0, 1, 2, 5]);
  assert.deepEqual([...parseCpuList('')!], []);
  assert.equal(parseCpuList('2-1'), undefined);
  assert.equal(parseCpuList('a'), undefined);
});

test('resource limits Docker refuses at create are 400s with dockerd\'s messages', () => {
  const refuses = (hc: object, re: RegExp) => assert.throws(() => validateResources(hc), (e: Error & { status?: number }) => e.status === 400 && re.test(e.message));
  refuses({ Memory: -5 }, /Minimum memory limit allowed is 6MB/);
  refuses({ Memory: 1024 }, /Minimum memory limit allowed is 6MB/);
  refuses({ MemorySwap: 64 << 20 }, /always set the Memory limit/);
  refuses({ Memory: 64 << 20, MemorySwap: 32 << 20 }, /memoryswap limit should be larger/);
  refuses({ NanoCpus: 1000e9 }, /Range of CPUs is from 0.01 to \d+\.00/);
  refuses({ NanoCpus: 1e9, CpuQuota: 50000 }, /Conflicting options/);
  refuses({ CpuPeriod: 10 }, /cfs period/);
  refuses({ CpusetCpus: '4096' }, /Requested CPUs are not available - requested 4096, available: /);
  refuses({ CpusetCpus: 'x' }, /Invalid value x for cpuset cpus/);
  refuses({ BlkioWeight: 5 }, /blkio weight/);
  for (const ok of [{}, { Memory: 64 << 20, MemorySwap: -1 }, { Memory: 64 << 20, MemorySwap: 128 << 20 }, { NanoCpus: 5e8 }, { CpusetCpus: '0' }, { CpuPeriod: 100000, CpuQuota: 50000 }]) {
    validateResources(ok);
  }
});
