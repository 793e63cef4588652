import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseCgroupMounts,
  layoutFromMounts,
  resolveCgroupsPath,
  cpuSharesToWeight,
  blkioWeightToIoWeight,
  memorySwapToV2,
  v2Writes,
  createCgroupManager,
} from '../../../src/runtime/cgroups/index.ts';
import { hierarchyDir } from '../../../src/runtime/cgroups/path.ts';
import { deviceRuleLine, cpuMax } from '../../../src/runtime/cgroups/convert.ts';
import { parseBlkioStats, parseIoStat } from '../../../src/runtime/cgroups/files.ts';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;
const PURE_V2 = `25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V1_COMOUNT = `30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
32 25 0:27 / /mnt/memory-again rw,nosuid - cgroup cgroup rw,memory
`;
const IN_CONTAINER = `700 690 0:27 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
`;

describe('layout detection', () => {
  test('this kind of host: v1 hierarchies plus an empty cgroup2 mount is hybrid', () => {
    const mounts = parseCgroupMounts(HYBRID, () => ['hugetlb']);
    const layout = layoutFromMounts(mounts);
    assert.equal(layout.mode, 'hybrid');
    assert.deepEqual(
      layout.mounts.map((m) => [m.type, m.mountPoint, m.controllers.join(',')]),
      [
        ['v1', '/sys/fs/cgroup/cpu', 'cpu'],
        ['v1', '/sys/fs/cgroup/cpuacct', 'cpuacct'],
        ['v1', '/sys/fs/cgroup/memory', 'memory'],
        ['v1', '/sys/fs/cgroup/pids', 'pids'],
        ['v1', '/sys/fs/cgroup/systemd', 'name=systemd'],
        ['v2', '/sys/fs/cgroup/unified', 'hugetlb'],
      ],
    );
  });

  test('pure v2, co-mounted v1 controllers, duplicate mounts', () => {
    const v2 = layoutFromMounts(parseCgroupMounts(PURE_V2, () => ['cpuset', 'cpu', 'io', 'memory', 'pids']));
    assert.equal(v2.mode, 'v2');
    assert.deepEqual(v2.mounts[0]!.controllers, ['cpuset', 'cpu', 'io', 'memory', 'pids']);
    const v1 = layoutFromMounts(parseCgroupMounts(V1_COMOUNT));
    assert.equal(v1.mode, 'v1');
    assert.equal(v1.mounts.length, 2, 'the second memory mount is the same hierarchy');
    assert.deepEqual(v1.mounts[0]!.controllers, ['cpu', 'cpuacct']);
  });

  test('inside a container the mount root is a subtree', () => {
    const [m] = parseCgroupMounts(IN_CONTAINER);
    assert.equal(m!.root, '/docker/abc');
    assert.equal(hierarchyDir(m!.mountPoint, m!.root, '/docker/abc/child'), '/sys/fs/cgroup/memory/child');
    assert.equal(hierarchyDir('/sys/fs/cgroup/memory', '/', '/berth/x'), '/sys/fs/cgroup/memory/berth/x');
  });

  test('no cgroups at all is a clear error', () => {
    assert.throws(() => layoutFromMounts(parseCgroupMounts('1 0 0:1 / / rw - ext4 /dev/sda1 rw\n')), { code: 'BERTH_CGROUPS_NOT_MOUNTED' });
  });

  test('the real host layout is detected', async () => {
    const { detectCgroupLayout } = await import('../../../src/runtime/cgroups/layout.ts');
    const layout = detectCgroupLayout();
    assert.ok(['v1', 'v2', 'hybrid'].includes(layout.mode));
    assert.ok(layout.mounts.length > 0);
  });
});

describe('cgroupsPath', () => {
  test('absolute paths are kept, relative ones go under /berth', () => {
    assert.equal(resolveCgroupsPath('/machine/abc'), '/machine/abc');
    assert.equal(resolveCgroupsPath('abc'), '/berth/abc');
    assert.equal(resolveCgroupsPath('a//b/./c/'), '/berth/a/b/c');
    assert.equal(resolveCgroupsPath('', 'ctr1'), '/berth/ctr1');
    assert.equal(resolveCgroupsPath(undefined, 'ctr1'), '/berth/ctr1');
  });

  test('escapes, roots, systemd style and empties are errors naming the field', () => {
    for (const bad of ['/a/../../b', '..', 'x/../../y']) {
      assert.throws(() => resolveCgroupsPath(bad), (err: any) => err.code === 'BERTH_CGROUPS_PATH' && /linux\.cgroupsPath/.test(err.message) && /\.\./.test(err.message));
    }
    assert.throws(() => resolveCgroupsPath('/'), { code: 'BERTH_CGROUPS_PATH' });
    assert.throws(() => resolveCgroupsPath(''), { code: 'BERTH_CGROUPS_PATH' });
    assert.throws(() => resolveCgroupsPath('a\nb'), { code: 'BERTH_CGROUPS_PATH' });
    assert.throws(() => resolveCgroupsPath('system.slice:docker:abc', undefined, { systemdRunning: true }), (err: any) => {
      assert.equal(err.code, 'BERTH_CGROUPS_SYSTEMD_UNSUPPORTED');
      assert.match(err.message, /systemd manages/);
      return true;
    });
  });

  test('systemd-style paths map to the directories systemd would use when no systemd runs', () => {
    const r = (p: string) => resolveCgroupsPath(p, undefined, { systemdRunning: false });
    assert.equal(r('system.slice:docker:abc'), '/system.slice/docker-abc.scope');
    assert.equal(r(':docker:abc'), '/system.slice/docker-abc.scope');
    assert.equal(r('kubepods-besteffort-pod12.slice:cri-containerd:f00'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-f00.scope');
    assert.equal(r('-.slice::x'), '/x.scope');
    assert.equal(r('user.slice:ignored:machine.slice'), '/user.slice/machine.slice');
    for (const bad of ['system:docker:abc', 'a--b.slice:p:n', '-a.slice:p:n', 'system.slice:docker:']) {
      assert.throws(() => r(bad), { code: 'BERTH_CGROUPS_PATH' }, bad);
    }
  });

  test('the manager picks the driver from the layout', () => {
    const v2 = createCgroupManager('x', layoutFromMounts(parseCgroupMounts(PURE_V2, () => ['memory'])));
    assert.equal(v2.version, 'v2');
    assert.deepEqual(v2.paths(), { unified: '/sys/fs/cgroup/berth/x' });
    assert.deepEqual(v2.procsFiles(), ['/sys/fs/cgroup/berth/x/cgroup.procs']);
    const hybrid = createCgroupManager('/berth-test/y', layoutFromMounts(parseCgroupMounts(HYBRID, () => [])));
    assert.equal(hybrid.version, 'v1');
    assert.deepEqual(hybrid.procsFiles(), [
      '/sys/fs/cgroup/cpu/berth-test/y/cgroup.procs',
      '/sys/fs/cgroup/cpuacct/berth-test/y/cgroup.procs',
      '/sys/fs/cgroup/memory/berth-test/y/cgroup.procs',
      '/sys/fs/cgroup/pids/berth-test/y/cgroup.procs',
      '/sys/fs/cgroup/systemd/berth-test/y/cgroup.procs',
      '/sys/fs/cgroup/unified/berth-test/y/cgroup.procs',
    ]);
  });
});

describe('v1 → v2 conversions (as runc)', () => {
  test('cpu shares → weight', () => {
    assert.equal(cpuSharesToWeight(2), 1);
    assert.equal(cpuSharesToWeight(1024), 39);
    assert.equal(cpuSharesToWeight(262144), 10000);
    assert.equal(cpuSharesToWeight(0), 0);
  });

  test('blkio weight → io weight', () => {
    assert.equal(blkioWeightToIoWeight(10), 1);
    assert.equal(blkioWeightToIoWeight(500), 4950);
    assert.equal(blkioWeightToIoWeight(1000), 10000);
  });

  test('memory+swap → swap.max', () => {
    assert.equal(memorySwapToV2(-1, 100), 'max');
    assert.equal(memorySwapToV2(300, 100), '200');
    assert.equal(memorySwapToV2(100, 100), '0');
    assert.equal(memorySwapToV2(undefined, 100), undefined);
    assert.throws(() => memorySwapToV2(300, undefined), { code: 'BERTH_CGROUPS_RESOURCE' });
    assert.throws(() => memorySwapToV2(50, 100), /below memory\.limit/);
    assert.throws(() => memorySwapToV2(300, -1), /unlimited/);
  });

  test('cpu.max', () => {
    assert.equal(cpuMax(50000, 100000), '50000 100000');
    assert.equal(cpuMax(-1, 100000), 'max 100000');
    assert.equal(cpuMax(20000, undefined), '20000');
    assert.equal(cpuMax(undefined, undefined), undefined);
  });

  test('device rule lines', () => {
    assert.equal(deviceRuleLine({ access: 'rwm' }, 'd'), 'a *:* rwm');
    assert.equal(deviceRuleLine({ type: 'c', major: 1, minor: 3, access: 'rw' }, 'd'), 'c 1:3 rw');
    assert.equal(deviceRuleLine({ type: 'b', major: 8, minor: null, access: 'r' }, 'd'), 'b 8:* r');
    assert.throws(() => deviceRuleLine({ type: 'c', major: -2 }, 'd[0]'), /d\[0\]\.major/);
  });

  test('a full resources object maps to the v2 files', () => {
    const writes = v2Writes({
      memory: { limit: 256 * 1024 * 1024, swap: 512 * 1024 * 1024, reservation: 128 * 1024 * 1024, swappiness: 60 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0', burst: 1000, idle: 0 },
      pids: { limit: -1 },
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 1000 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
    });
    assert.deepEqual(
      writes.map(([file, value, controller]) => [file, value, controller]),
      [
        ['memory.max', '268435456', 'memory'],
        ['memory.swap.max', '268435456', 'memory'],
        ['memory.low', '134217728', 'memory'],
        ['cpu.weight', '39', 'cpu'],
        ['cpu.max', '50000 100000', 'cpu'],
        ['cpu.max.burst', '1000', 'cpu'],
        ['cpu.idle', '0', 'cpu'],
        ['cpuset.cpus', '0-1', 'cpuset'],
        ['cpuset.mems', '0', 'cpuset'],
        ['pids.max', 'max', 'pids'],
        ['io.weight', '4950', 'io'],
        ['io.weight', '8:0 10000', 'io'],
        ['io.max', '8:0 rbps=1048576', 'io'],
        ['io.max', '8:0 wiops=100', 'io'],
        ['hugetlb.2MB.max', '4194304', 'hugetlb'],
      ],
    );
  });

  test('v2 refuses what it cannot express', () => {
    assert.throws(() => v2Writes({ cpu: { realtimeRuntime: 1000 } }), { code: 'BERTH_CGROUPS_UNSUPPORTED' });
    assert.throws(() => v2Writes({ network: { classID: 1 } }), { code: 'BERTH_CGROUPS_UNSUPPORTED' });
    assert.throws(() => v2Writes({ memory: { swap: 1000 } }), { code: 'BERTH_CGROUPS_RESOURCE' });
    assert.throws(() => v2Writes({ pids: { limit: 1.5 } }), /pids\.limit/);
  });
});

describe('I/O stats parsing', () => {
  test('v1 blkio throttle files', () => {
    const io = parseBlkioStats('254:0 Read 4096\n254:0 Write 4194304\n254:0 Sync 1\n254:0 Total 4198400\n8:0 Read 10\nTotal 4198410\n', '254:0 Read 1\n254:0 Write 4\n8:0 Read 2\n');
    assert.deepEqual(io, {
      readBytes: 4106, writeBytes: 4194304, readOps: 3, writeOps: 4,
      devices: [
        { major: 254, minor: 0, readBytes: 4096, writeBytes: 4194304, readOps: 1, writeOps: 4 },
        { major: 8, minor: 0, readBytes: 10, writeBytes: 0, readOps: 2, writeOps: 0 },
      ],
    });
    assert.deepEqual(parseBlkioStats(undefined, 'Total 0\n'), { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0, devices: [] });
  });

  test('v2 io.stat', () => {
    const io = parseIoStat('8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n253:0 rbytes=5 wbytes=6 rios=7 wios=8\n');
    assert.equal(io.writeBytes, 314773510);
    assert.equal(io.readOps, 199);
    assert.deepEqual(io.devices[0], { major: 8, minor: 16, readBytes: 1459200, writeBytes: 314773504, readOps: 192, writeOps: 353 });
  });
});
