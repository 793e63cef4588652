/**
 * The cgroup v2 driver against this host's real cgroup2 mount. On these
 * hybrid machines /sys/fs/cgroup/unified holds no resource controllers except
 * hugetlb (v1 owns the rest), so memory/cpu/pids/io limits cannot be applied
 * here; what v2 core offers without controllers is exercised for real:
 * create, join, cgroup.procs, cgroup.freeze + cgroup.events, cpu.stat usage,
 * cgroup.kill, unified files, hugetlb limits, removal. The limit mapping is
 * covered by test/unit/cgroups.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createCgroupManager, detectCgroupLayout, type CgroupLayout, type CgroupMount } from '../../../src/runtime/cgroups/index.ts';
import { Cleanup, spawnGated, testCgroupPath, delay, waitUntil } from './helpers.ts';

const host = detectCgroupLayout();
const unified: CgroupMount | undefined = host.mounts.find((m) => m.type === 'v2');
const v2Layout: CgroupLayout | undefined = unified && { mode: 'v2', mounts: [unified] };
const cleanup = new Cleanup();
let subtreeBefore = '';

before(() => {
  if (unified) subtreeBefore = readFileSync(join(unified.mountPoint, 'cgroup.subtree_control'), 'utf8').trim();
});

after(async () => {
  await cleanup.run();
  // Leave the host's root subtree_control as we found it.
  if (unified) {
    const now = readFileSync(join(unified.mountPoint, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/).filter(Boolean);
    const was = new Set(subtreeBefore.split(/\s+/).filter(Boolean));
    for (const c of now) {
      if (!was.has(c)) {
        try {
          writeFileSync(join(unified.mountPoint, 'cgroup.subtree_control'), `-${c}`);
        } catch (err) {
          console.error(`restoring subtree_control: -${c}:`, (err as Error).message);
        }
      }
    }
  }
});

const hugetlbHere = !!unified?.controllers.includes('hugetlb') && existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB');

describe('cgroup v2 driver on the real cgroup2 mount', { skip: !unified && 'no cgroup2 mount' }, () => {
  test('create, join, list, and remove', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('v2'), v2Layout));
    assert.equal(cg.version, 'v2');
    await cg.create({ unified: { 'cgroup.max.descendants': '3' } });
    const dir = cg.paths().unified!;
    assert.equal(dir, join(unified!.mountPoint, cg.path));
    assert.equal(readFileSync(join(dir, 'cgroup.max.descendants'), 'utf8').trim(), '3');
    const g = cleanup.child(spawnGated('echo in-v2'));
    await cg.addProcess(g.pid);
    assert.deepEqual(cg.procsFiles(), [join(dir, 'cgroup.procs')]);
    assert.deepEqual(await cg.processes(), [g.pid]);
    assert.match(readFileSync(`/proc/${g.pid}/cgroup`, 'utf8'), new RegExp(`^0::${cg.path}$`, 'm'));
    g.release();
    assert.deepEqual(await g.exited, { code: 0, signal: null });
    await cg.destroy();
    assert.equal(existsSync(dir), false);
  });

  test('freeze via cgroup.freeze stops cpu.stat usage; thaw resumes', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('v2freeze'), v2Layout));
    await cg.create();
    const g = cleanup.child(spawnGated('while :; do :; done'));
    await cg.addProcess(g.pid);
    g.release();
    await waitUntil(async () => ((await cg.stats()).cpu?.usageNs ?? 0) > 20e6, 10_000, 'cpu usage');
    await cg.freeze();
    assert.equal(await cg.isFrozen(), true);
    const at = (await cg.stats()).cpu!.usageNs;
    await delay(300);
    assert.equal((await cg.stats()).cpu!.usageNs, at);
    await cg.thaw();
    await waitUntil(async () => (await cg.stats()).cpu!.usageNs > at, 10_000, 'resumed usage');
    assert.equal(await cg.isFrozen(), false);
    await cg.destroy({ kill: true });
    assert.equal(cg.exists(), false);
    assert.equal((await g.exited).signal, 'SIGKILL');
  });

  test('destroy with kill takes forked children too (cgroup.kill)', async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('v2kill'), v2Layout));
    await cg.create();
    const g = cleanup.child(spawnGated('/bin/busybox sleep 60 & /bin/busybox sleep 60 & echo forked; wait'));
    await cg.addProcess(g.pid);
    g.release();
    await waitUntil(async () => (await cg.processes()).length === 3, 10_000, 'three processes');
    await cg.destroy({ kill: true });
    assert.equal(cg.exists(), false);
    assert.equal((await g.exited).signal, 'SIGKILL');
  });

  test('hugetlb limit is written for real', { skip: !hugetlbHere && 'no hugetlb controller in cgroup2 here' }, async () => {
    const cg = cleanup.track(createCgroupManager(testCgroupPath('v2huge'), v2Layout));
    await cg.create({ hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 * 1024 * 1024 }] });
    assert.equal(readFileSync(join(cg.paths().unified!, 'hugetlb.2MB.max'), 'utf8').trim(), String(8 * 1024 * 1024));
    await cg.destroy();
  });

  test('limits whose controller this host does not give to v2 fail clearly and leave nothing', async () => {
    for (const [resources, controller] of [
      [{ memory: { limit: 64 * 1024 * 1024 } }, 'memory'],
      [{ pids: { limit: 10 } }, 'pids'],
      [{ cpu: { shares: 512 } }, 'cpu'],
    ] as const) {
      if (unified!.controllers.includes(controller)) continue;
      const cg = cleanup.track(createCgroupManager(testCgroupPath('v2missing'), v2Layout));
      await assert.rejects(cg.create(resources), (err: any) => {
        assert.equal(err.code, 'BERTH_CGROUPS_CONTROLLER_MISSING');
        assert.match(err.message, new RegExp(`needs the ${controller} controller`));
        return true;
      });
      assert.equal(cg.exists(), false);
    }
  });

  test('device rules enforced by the compiled eBPF program, attached for real by berth-device-attach', async () => {
    {
      // The default loader: native/build/berth-device-attach (built by scripts/build.mjs).
      const cg = cleanup.track(createCgroupManager(testCgroupPath('v2bpf'), v2Layout));
      await cg.create({
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
          { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }, // zero, read-only
        ],
      });
      const g = cleanup.child(
        spawnGated(
          [
            'echo x > /dev/null && echo null-write-ok',
            '/bin/busybox head -c 1 /dev/zero >/dev/null && echo zero-read-ok',
            '(echo x > /dev/zero) 2>/dev/null || echo zero-write-denied',
            '/bin/busybox head -c 1 /dev/urandom >/dev/null 2>&1 || echo urandom-denied',
          ].join('; '),
        ),
      );
      await cg.addProcess(g.pid);
      g.release();
      await g.exited;
      assert.equal(g.stdout(), 'null-write-ok\nzero-read-ok\nzero-write-denied\nurandom-denied\n');
      // Outside the group nothing changed.
      assert.equal(execFileSync('/bin/busybox', ['head', '-c', '1', '/dev/urandom']).length, 1);
      await assert.rejects(cg.update({ devices: [{ allow: true, access: 'rwm' }] }), { code: 'BERTH_CGROUPS_UNSUPPORTED' });
      await cg.destroy();
    }
  });

  test('without a loader, device rules are refused unless the caller accepts running without them', async () => {
    const devices = [{ allow: false, access: 'rwm' }];
    const refused = cleanup.track(createCgroupManager(testCgroupPath('v2dev'), v2Layout, { attachDeviceProgram: undefined }));
    await assert.rejects(refused.create({ devices }), { code: 'BERTH_CGROUPS_DEVICES_UNSUPPORTED' });
    assert.equal(refused.exists(), false);
    const ignored = cleanup.track(createCgroupManager(testCgroupPath('v2dev'), v2Layout, { devices: 'ignore' }));
    await ignored.create({ devices });
    assert.equal(ignored.exists(), true);
    await ignored.destroy();
  });
});

describe('hybrid: the v1 driver puts the group in the cgroup2 mount too', { skip: host.mode !== 'hybrid' && 'not a hybrid host' }, () => {
  test('joined in both, hugetlb limits go to the cgroup2 side when only it has hugetlb', async () => {
    const onlyV2Hugetlb = hugetlbHere && !host.mounts.some((m) => m.type === 'v1' && m.controllers.includes('hugetlb'));
    const cg = cleanup.track(createCgroupManager(testCgroupPath('hybrid'), host));
    await cg.create(onlyV2Hugetlb ? { hugepageLimits: [{ pageSize: '2MB', limit: 2 * 1024 * 1024 }] } : {});
    const p = cg.paths();
    assert.ok(p.unified && p.memory);
    if (onlyV2Hugetlb) assert.equal(readFileSync(join(p.unified!, 'hugetlb.2MB.max'), 'utf8').trim(), String(2 * 1024 * 1024));
    const g = cleanup.child(spawnGated('true'));
    await cg.addProcess(g.pid);
    const own = readFileSync(`/proc/${g.pid}/cgroup`, 'utf8');
    assert.match(own, new RegExp(`^0::${cg.path}$`, 'm'));
    assert.match(own, new RegExp(`memory:${cg.path}$`, 'm'));
    g.release();
    await g.exited;
    await cg.destroy();
    assert.equal(existsSync(p.unified!), false);
  });
});
