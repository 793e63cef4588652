import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCgroupManager, type CgroupManager } from '../../../src/runtime/cgroups/index.ts';
import { dockerStats, hostCpuSample, systemCpuUsageNs } from '../../../src/container/stats.ts';

describe('docker stats from a real cgroup', () => {
  let cg: CgroupManager | undefined;
  let child: ChildProcess | undefined;
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
    await cg?.destroy({ kill: true });
  });

  test('a busy process in the group shows up in cpu, memory and pids; the host counters move', async () => {
    // One level under the root, so destroy() leaves nothing behind.
    cg = createCgroupManager(`/berth-test-stats-${process.pid}`);
    await cg.create({ pids: { limit: 50 } });
    child = spawn('/bin/busybox', ['sh', '-c', 'read _; x=$(head -c 2000000 /dev/zero | tr "\\0" a); while :; do :; done'], { stdio: ['pipe', 'ignore', 'ignore'] });
    await cg.addProcess(child.pid!);
    child.stdin!.write('go\n');
    const first = await cg.stats();
    const host1 = hostCpuSample();
    const firstJson = dockerStats(first, undefined, { id: 'f'.repeat(64), name: 'busy', onlineCpus: host1.onlineCpus, system: host1.systemNs, cgroupVersion: cg.version });
    // Wait (without a deadline in the assertion) until the group has used more CPU.
    let second = await cg.stats();
    // memory is charged once the shell holds its string (charges made before joining stay outside on v1)
    while ((second.cpu?.usageNs ?? 0) <= (first.cpu?.usageNs ?? 0) + 10_000_000 || (second.memory?.usage ?? 0) === 0) {
      await new Promise((r) => setTimeout(r, 20));
      second = await cg.stats();
    }
    const host2 = systemCpuUsageNs();
    const s = dockerStats(second, { cgroup: first, system: host1.systemNs, read: firstJson.read }, { id: 'f'.repeat(64), name: 'busy', onlineCpus: host1.onlineCpus, system: host2, cgroupVersion: cg.version });
    assert.equal(s.name, '/busy');
    assert.ok(s.cpu_stats.cpu_usage.total_usage > s.precpu_stats.cpu_usage.total_usage);
    assert.ok(s.cpu_stats.system_cpu_usage! >= s.precpu_stats.system_cpu_usage!);
    assert.equal(s.cpu_stats.online_cpus, host1.onlineCpus);
    assert.ok(host1.onlineCpus >= 1);
    assert.ok((s.pids_stats.current ?? 0) >= 1, 'the shell (and maybe its pipeline) counted');
    assert.equal(s.pids_stats.limit, 50);
    assert.ok((s.memory_stats.usage ?? 0) > 0);
    assert.ok((s.memory_stats.limit ?? 0) > 0);
    if (cg.version === 'v1') assert.equal(s.cpu_stats.cpu_usage.percpu_usage!.length, host1.onlineCpus);
    assert.equal(s.preread, firstJson.read);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(s)));
  });
});
