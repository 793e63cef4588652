import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cpuPercent, dockerStats, memoryUsage, parseProcStat, ZERO_TIME } from '../../../src/container/stats.ts';
import type { CgroupStats } from '../../../src/runtime/cgroups/types.ts';

const v1Sample: CgroupStats = {
  memory: {
    usage: 10_000_000, limit: null, maxUsage: 12_000_000, failcnt: 0, oomKills: 0, cache: 4096, rss: 8_000_000,
    stat: { cache: 4096, rss: 8_000_000, total_inactive_file: 2_000_000 },
  },
  cpu: { usageNs: 3_000_000_000, userNs: 2_000_000_000, systemNs: 1_000_000_000, perCpuNs: [1_500_000_000, 1_500_000_000], periods: 10, throttledPeriods: 2, throttledNs: 5000 },
  pids: { current: 3, limit: null },
  io: { readBytes: 4096, writeBytes: 8192, readOps: 1, writeOps: 2, devices: [{ major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, readOps: 1, writeOps: 2 }] },
};

describe('docker stats JSON', () => {
  test('first sample on cgroup v1: every field Docker sends, in its order, precpu zero and preread Go zero time', () => {
    const s = dockerStats(v1Sample, undefined, { id: 'abc', name: 'web', onlineCpus: 2, system: 1_000_000_000_000, read: '2026-11-23T10:00:00.5Z', machineMemory: 8_000_000_000, cgroupVersion: 'v1' });
    assert.deepEqual(Object.keys(s), ['read', 'preread', 'pids_stats', 'blkio_stats', 'num_procs', 'storage_stats', 'cpu_stats', 'precpu_stats', 'memory_stats', 'name', 'id']);
    assert.equal(s.preread, ZERO_TIME);
    assert.equal(s.name, '/web');
    assert.deepEqual(s.pids_stats, { current: 3 });
    assert.deepEqual(s.cpu_stats, {
      cpu_usage: { total_usage: 3_000_000_000, percpu_usage: [1_500_000_000, 1_500_000_000], usage_in_kernelmode: 1_000_000_000, usage_in_usermode: 2_000_000_000 },
      system_cpu_usage: 1_000_000_000_000,
      online_cpus: 2,
      throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 5000 },
    });
    assert.deepEqual(s.precpu_stats, { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
    assert.deepEqual(s.memory_stats, { usage: 10_000_000, max_usage: 12_000_000, stats: { cache: 4096, rss: 8_000_000, total_inactive_file: 2_000_000 }, failcnt: 0, limit: 8_000_000_000 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: 'Read', value: 4096 }, { major: 8, minor: 0, op: 'Write', value: 8192 }, { major: 8, minor: 0, op: 'Total', value: 12288 },
    ]);
    assert.deepEqual(s.blkio_stats.io_queue_recursive, [], 'v1: the lists Docker copies from the kernel are [] when empty');
    assert.equal(s.num_procs, 0);
    assert.deepEqual(s.storage_stats, {});
    assert.equal('networks' in s, false, 'no networks for a loopback-only container');
    assert.equal(cpuPercent(s), 0.6, 'the CLI computes the first figure against zero precpu');
    assert.equal(memoryUsage(s), 8_000_000);
  });

  test('a second sample: precpu and preread from the previous one, CPU % as the docker CLI computes it', () => {
    const prev = { cgroup: v1Sample, system: 1_000_000_000_000, read: '2026-11-23T10:00:00Z' };
    const next: CgroupStats = { ...v1Sample, cpu: { ...v1Sample.cpu!, usageNs: 4_000_000_000 } };
    const s = dockerStats(next, prev, { id: 'abc', name: '/web', onlineCpus: 2, system: 1_002_000_000_000, read: '2026-11-23T10:00:01Z', cgroupVersion: 'v1' });
    assert.equal(s.preread, '2026-11-23T10:00:00Z');
    assert.equal(s.precpu_stats.cpu_usage.total_usage, 3_000_000_000);
    assert.equal(s.precpu_stats.system_cpu_usage, 1_000_000_000_000);
    assert.equal(s.name, '/web');
    // 1 s of CPU over 2 s of host time (both CPUs), times 2 CPUs: 100 %
    assert.equal(cpuPercent(s), 100);
  });

  test('cgroup v2: lower-case blkio ops, no per-CPU usage, no max_usage/failcnt, a set limit kept, networks when given', () => {
    const v2: CgroupStats = {
      memory: { usage: 5000, limit: 1 << 20, oomKills: 0, stat: { anon: 3000, file: 2000, inactive_file: 1000 } },
      cpu: { usageNs: 10, userNs: 6, systemNs: 4 },
      pids: { current: 1, limit: 100 },
      io: { readBytes: 1, writeBytes: 2, readOps: 3, writeOps: 4, devices: [{ major: 254, minor: 1, readBytes: 1, writeBytes: 2, readOps: 3, writeOps: 4 }] },
    };
    const net = { eth0: { rx_bytes: 1, rx_packets: 1, rx_errors: 0, rx_dropped: 0, tx_bytes: 2, tx_packets: 2, tx_errors: 0, tx_dropped: 0 } };
    const s = dockerStats(v2, undefined, { id: 'x', name: 'n', onlineCpus: 4, system: 5, read: 'r', machineMemory: 1 << 30, networks: net });
    assert.equal(s.cpu_stats.cpu_usage.percpu_usage, undefined);
    assert.deepEqual(s.memory_stats, { usage: 5000, stats: { anon: 3000, file: 2000, inactive_file: 1000 }, limit: 1 << 20 });
    assert.deepEqual(s.blkio_stats.io_serviced_recursive!.map((e) => e.op), ['read', 'write']);
    assert.equal(s.blkio_stats.io_queue_recursive, null);
    assert.deepEqual(s.pids_stats, { current: 1, limit: 100 });
    assert.deepEqual(s.networks, net);
    assert.equal(memoryUsage(s), 4000);
  });

  test('a container without cgroup data still gives the whole document', () => {
    const s = dockerStats({}, undefined, { id: 'x', name: 'n', onlineCpus: 0, system: 0, read: 'r' });
    assert.deepEqual(s.memory_stats, {});
    assert.deepEqual(s.pids_stats, {});
    assert.equal(s.blkio_stats.io_service_bytes_recursive, null);
    assert.deepEqual(s.cpu_stats, { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
  });

  test('/proc/stat: user..softirq summed (not steal or guest), in ns at USER_HZ 100; CPUs counted', () => {
    const text = 'cpu  100 1 50 1000 5 2 3 999 7 7\ncpu0 50 1 25 500 2 1 1 0 0 0\ncpu1 50 0 25 500 3 1 2 0 0 0\nintr 1 2 3\n';
    assert.deepEqual(parseProcStat(text), { systemNs: 1161 * 10_000_000, onlineCpus: 2 });
    assert.throws(() => parseProcStat('intr 1\n'), /no "cpu" line/);
    assert.throws(() => parseProcStat('cpu 1 2 3\n'), /invalid number of cpu fields/);
  });
});
