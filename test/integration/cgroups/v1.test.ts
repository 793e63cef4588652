/**
 * The cgroup v1 driver on this host's real hierarchies (root needed). Every
 * group is named berth-test-… and removed in after(), processes killed by pid.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager, detectCgroupLayout, type CgroupLayout } from '../../../src/runtime/cgroups/index.ts';
import { Cleanup, spawnGated, testCgroupPath, delay, waitUntil } from './helpers.ts';

const layout: CgroupLayout = detectCgroupLayout();
const v1 = layout.mode === 'v1' || layout.mode === 'hybrid';
const cleanup = new Cleanup();
after(() => cleanup.run());

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();
const MiB = 1024 * 1024;

describe('cgroup v1 driver', { skip: !v1 && 'host has no cgroup v1 hierarchies' }, () => {
  before(() => {
    assert.equal(process.getuid?.(), 0, 'cgroup integration tests need root');
  });

  test('create makes the group in every hierarchy with the limits, destroy removes it', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('create'), layout));
    await cg.create({
      memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 96 * MiB, swappiness: 10 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      pids: { limit: 42 },
    });
    const p = cg.paths();
    for (const dir of Object.values(p)) assert.ok(existsSync(join(dir, 'cgroup.procs')), dir);
    assert.equal(read(p.memory!, 'memory.limit_in_bytes'), String(64 * MiB));
    assert.equal(read(p.memory!, 'memory.soft_limit_in_bytes'), String(32 * MiB));
    assert.equal(read(p.memory!, 'memory.memsw.limit_in_bytes'), String(96 * MiB));
    assert.equal(read(p.memory!, 'memory.swappiness'), '10');
    assert.equal(read(p.cpu!, 'cpu.shares'), '512');
    assert.equal(read(p.cpu!, 'cpu.cfs_quota_us'), '50000');
    assert.equal(read(p.cpu!, 'cpu.cfs_period_us'), '100000');
    assert.equal(read(p.cpuset!, 'cpuset.cpus'), '0');
    assert.equal(read(p.pids!, 'pids.max'), '42');
    const stats = await cg.stats();
    assert.equal(stats.memory?.limit, 64 * MiB);
    assert.deepEqual(stats.pids, { current: 0, limit: 42 });
    await cg.destroy();
    for (const dir of Object.values(p)) assert.ok(!existsSync(dir), `${dir} removed`);
    assert.equal(cg.exists(), false);
  });

  test('a process joins through procsFiles and cpuset works without explicit cpus', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('join'), layout));
    await cg.create({});
    const g = cleanup.child(spawnGated('echo joined'));
    for (const file of cg.procsFiles()) {
      // what the launcher does: write the pid into each cgroup.procs
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, String(g.pid));
    }
    assert.deepEqual(await cg.processes(), [g.pid]);
    const own = readFileSync(`/proc/${g.pid}/cgroup`, 'utf8');
    assert.match(own, new RegExp(`memory:${cg.path}\\n`));
    assert.match(own, new RegExp(`cpuset:${cg.path}\\n`));
    g.release();
    assert.deepEqual(await g.exited, { code: 0, signal: null });
    assert.equal(g.stdout(), 'joined\n');
    await cg.destroy();
  });

  test('a memory limit OOM-kills a process allocating past it and the OOM count rises', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('oom'), layout));
    await cg.create({ memory: { limit: 32 * MiB, swap: 32 * MiB } });
    assert.equal(await cg.oomKillCount(), 0);
    // tail buffers its input until the last newline; /dev/zero has none.
    const g = cleanup.child(spawnGated('exec /bin/busybox tail /dev/zero'));
    await cg.addProcess(g.pid);
    g.release();
    const res = await g.exited;
    assert.equal(res.signal, 'SIGKILL');
    assert.ok((await cg.oomKillCount()) >= 1);
    const stats = await cg.stats();
    assert.ok(stats.memory!.oomKills >= 1);
    assert.ok(stats.memory!.maxUsage! <= 32 * MiB && stats.memory!.maxUsage! > 16 * MiB, `max usage ${stats.memory!.maxUsage}`);
    await cg.destroy();
  });

  test('a pids limit stops forks beyond it', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('pids'), layout));
    await cg.create({ pids: { limit: 5 } });
    // ash gives up the loop at the first failed fork, so fork from a subshell
    // and report from the parent: sh + subshell + 3 sleeps hit the limit.
    const g = cleanup.child(spawnGated('(for i in 1 2 3 4 5 6 7 8 9 10; do /bin/busybox sleep 30 & done); echo looped; /bin/busybox sleep 30'));
    await cg.addProcess(g.pid);
    g.release();
    await waitUntil(() => g.stdout().includes('looped'), 10_000, 'the fork loop');
    const stats = await cg.stats();
    // Unlimited, the group would hold sh + 10 sleeps; limited it never exceeds 5.
    assert.equal(stats.pids!.limit, 5);
    assert.ok(stats.pids!.current >= 3 && stats.pids!.current <= 5, `pids.current ${stats.pids!.current}`);
    assert.ok((await cg.processes()).length <= 5);
    assert.match(g.stderr(), /fork|Resource temporarily unavailable/i);
    await cg.destroy({ kill: true });
    assert.equal(cg.exists(), false);
    assert.ok((await g.exited).signal === 'SIGKILL');
  });

  test('a cpu quota caps the cpu usage counter and throttles', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('cpu'), layout));
    const quota = 10_000;
    const period = 100_000;
    await cg.create({ cpu: { quota, period } });
    const g = cleanup.child(spawnGated('while :; do :; done'));
    await cg.addProcess(g.pid);
    const before = (await cg.stats()).cpu!.usageNs;
    const t0 = process.hrtime.bigint();
    g.release();
    await delay(1000);
    const stats = await cg.stats();
    const wallNs = Number(process.hrtime.bigint() - t0);
    const used = stats.cpu!.usageNs - before;
    // The quota is an upper bound whatever else the machine does: 10% of the
    // wall time, plus two periods of slack for the window edges.
    assert.ok(used <= (wallNs * quota) / period + 2 * period * 1000, `used ${used} ns of cpu in ${wallNs} ns`);
    assert.ok(used > 0, 'the loop ran');
    assert.ok(stats.cpu!.throttledPeriods! > 0, 'throttled');
    assert.ok(stats.cpu!.throttledNs! > 0);
    await cg.destroy({ kill: true });
  });

  test('freeze stops a busy loop from accumulating cpu, thaw resumes it', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('freeze'), layout));
    await cg.create({});
    const g = cleanup.child(spawnGated('while :; do :; done'));
    await cg.addProcess(g.pid);
    g.release();
    await waitUntil(async () => (await cg.stats()).cpu!.usageNs > 20e6, 10_000, 'the loop to use cpu');
    await cg.freeze();
    assert.equal(await cg.isFrozen(), true);
    const frozenAt = (await cg.stats()).cpu!.usageNs;
    await delay(300);
    assert.equal((await cg.stats()).cpu!.usageNs, frozenAt, 'no cpu while frozen');
    await cg.thaw();
    assert.equal(await cg.isFrozen(), false);
    await waitUntil(async () => (await cg.stats()).cpu!.usageNs > frozenAt, 10_000, 'the loop to run again');
    await cg.destroy({ kill: true });
    assert.equal(cg.exists(), false);
  });

  test('device rules: deny all, allow /dev/null', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('devices'), layout));
    await cg.create({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      ],
    });
    assert.equal(read(cg.paths().devices!, 'devices.list'), 'c 1:3 rwm');
    const g = cleanup.child(spawnGated('echo x > /dev/null && echo null-ok; /bin/busybox head -c 1 /dev/zero >/dev/null || echo zero-denied'));
    await cg.addProcess(g.pid);
    g.release();
    await g.exited;
    assert.equal(g.stdout(), 'null-ok\nzero-denied\n');
    assert.match(g.stderr(), /Operation not permitted/);
    await cg.destroy();
  });

  test('block I/O throttle rule is applied and direct writes are counted', async (t) => {
    const { statSync, rmSync } = await import('node:fs');
    const target = '/var/tmp';
    const st = statSync(target);
    const major = Math.floor(st.dev / 256) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    // Only block devices carry blkio rules; overlay/tmpfs roots have none.
    const isBlock = existsSync(`/sys/dev/block/${major}:${minor}`);
    if (!isBlock) {
      t.skip(`${target} is not on a block device`);
      return;
    }
    const cg = cleanup.track(createCgroupManager(testCgroupPath('blkio'), layout));
    const rate = 1024 * MiB;
    await cg.create({ blockIO: { throttleWriteBpsDevice: [{ major, minor, rate }] } });
    assert.equal(read(cg.paths().blkio!, 'blkio.throttle.write_bps_device'), `${major}:${minor} ${rate}`);
    const file = join(target, `berth-test-io-${process.pid}.bin`);
    try {
      const g = cleanup.child(spawnGated(`exec /bin/busybox dd if=/dev/zero of=${file} bs=1M count=4 oflag=direct`));
      await cg.addProcess(g.pid);
      g.release();
      assert.equal((await g.exited).code, 0, g.stderr());
      const io = (await cg.stats()).io!;
      const dev = io.devices.find((d) => d.major === major && d.minor === minor);
      assert.ok(dev, JSON.stringify(io));
      assert.ok(dev.writeBytes >= 4 * MiB, `wrote ${dev.writeBytes}`);
      assert.ok(dev.writeOps >= 4);
      assert.ok(io.writeBytes >= 4 * MiB);
    } finally {
      rmSync(file, { force: true });
    }
    await cg.destroy();
  });

  test('update changes limits of a live group', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('update'), layout));
    await cg.create({ memory: { limit: 64 * MiB, swap: 64 * MiB }, pids: { limit: 10 } });
    // raising memory+swap must raise memsw before the limit, lowering the other way round
    await cg.update({ memory: { limit: 128 * MiB, swap: 256 * MiB }, pids: { limit: -1 }, cpu: { shares: 256 } });
    const p = cg.paths();
    assert.equal(read(p.memory!, 'memory.limit_in_bytes'), String(128 * MiB));
    assert.equal(read(p.memory!, 'memory.memsw.limit_in_bytes'), String(256 * MiB));
    assert.equal(read(p.pids!, 'pids.max'), 'max');
    assert.equal(read(p.cpu!, 'cpu.shares'), '256');
    await cg.update({ memory: { limit: 16 * MiB, swap: 16 * MiB } });
    assert.equal(read(p.memory!, 'memory.limit_in_bytes'), String(16 * MiB));
    assert.equal(read(p.memory!, 'memory.memsw.limit_in_bytes'), String(16 * MiB));
    assert.equal((await cg.stats()).pids!.limit, null);
    await cg.destroy();
  });

  test('destroy with kill removes a group that still has processes; without kill it says why it cannot', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('busy'), layout));
    await cg.create({});
    const g = cleanup.child(spawnGated('/bin/busybox sleep 60'));
    await cg.addProcess(g.pid);
    g.release();
    await assert.rejects(cg.destroy({ timeoutMs: 100 }), (err: any) => {
      assert.equal(err.code, 'BERTH_CGROUPS_REMOVE');
      assert.match(err.message, /still holds processes/);
      return true;
    });
    await cg.destroy({ kill: true });
    assert.equal(cg.exists(), false);
    assert.equal((await g.exited).signal, 'SIGKILL');
  });
});

describe('bad cgroup input is a clear error and leaves nothing behind', { skip: !v1 && 'host has no cgroup v1 hierarchies' }, () => {
  test('paths that escape or are systemd style', () => {
    assert.throws(() => createCgroupManager('/berth/../../etc', layout), { code: 'BERTH_CGROUPS_PATH' });
    assert.throws(() => createCgroupManager('system.slice:berth:abc', layout, { systemdRunning: true }), { code: 'BERTH_CGROUPS_SYSTEMD_UNSUPPORTED' });
    assert.throws(() => createCgroupManager('/', layout), { code: 'BERTH_CGROUPS_PATH' });
  });

  const bad: [string, object, string, RegExp][] = [
    ['swap below limit', { memory: { limit: 64 * MiB, swap: 32 * MiB } }, 'BERTH_CGROUPS_RESOURCE', /swap=.*below.*limit/],
    ['cpus the kernel rejects', { cpu: { cpus: '0-255' } }, 'BERTH_CGROUPS_WRITE', /cpuset\.cpus/],
    ['malformed cpus', { cpu: { cpus: 'all' } }, 'BERTH_CGROUPS_RESOURCE', /cpu\.cpus/],
    ['negative shares', { cpu: { shares: -5 } }, 'BERTH_CGROUPS_RESOURCE', /cpu\.shares/],
    ['device type', { devices: [{ allow: true, type: 'x', access: 'r' }] }, 'BERTH_CGROUPS_RESOURCE', /devices\[0\]\.type/],
    ['device access', { devices: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwx' }] }, 'BERTH_CGROUPS_RESOURCE', /devices\[0\]\.access/],
    ['hugepage size', { hugepageLimits: [{ pageSize: 'huge', limit: 1 }] }, 'BERTH_CGROUPS_RESOURCE', /hugepageLimits\[0\]\.pageSize/],
    ['unified file name', { unified: { '../../memory.max': '1' } }, 'BERTH_CGROUPS_RESOURCE', /unified/],
    ['memory limit below usage is reported with the file', { memory: { limit: 65536 } }, 'BERTH_CGROUPS_WRITE', /memory\.limit_in_bytes/],
  ];
  for (const [what, resources, code, message] of bad) {
    test(what, async () => {
      const cg = cleanup.track(createCgroupManager(testCgroupPath('bad'), layout));
      let procs: ReturnType<typeof spawnGated> | undefined;
      if (what.startsWith('memory limit below usage')) {
        // a group already using memory cannot be squeezed below it
        await cg.create({});
        // v1 charges pages to the group that faulted them: let the process
        // allocate inside the group (exec) before squeezing.
        // tail -c keeps the last 2 MB of an endless stream in anonymous memory.
        procs = cleanup.child(spawnGated('exec /bin/busybox tail -c 2000000 /dev/zero'));
        await cg.addProcess(procs.pid);
        procs.release();
        await waitUntil(async () => (await cg.stats()).memory!.usage > 1_000_000, 10_000, 'the allocation');
        await assert.rejects(cg.update(resources), (err: any) => err.code === code && message.test(err.message));
        await cg.destroy({ kill: true });
        return;
      }
      await assert.rejects(cg.create(resources), (err: any) => {
        assert.equal(err.code, code, err.message);
        assert.match(err.message, message);
        return true;
      });
      assert.equal(cg.exists(), false, 'nothing left behind');
    });
  }
});
