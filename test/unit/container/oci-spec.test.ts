import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildContainerSpec,
  containerArgs,
  containerEnv,
  containerCapabilities,
  nanoCpusToQuota,
  parseSecurityOpts,
  type SpecInputs,
} from '../../../src/container/oci-spec.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { CAPABILITY_NAMES } from '../../../src/runtime/capabilities.ts';

const id = 'a'.repeat(64);
function inputs(over: Partial<SpecInputs> = {}): SpecInputs {
  return {
    id,
    rootfsPath: '/var/lib/berth/containers/x/rootfs',
    config: { Image: 'busybox', Cmd: ['sh'] },
    hostConfig: {},
    image: { Env: ['PATH=/bin', 'FOO=image'], Cmd: ['sh'] },
    user: { uid: 0, gid: 0, additionalGids: [] },
    userMounts: [],
    devices: [],
    seccomp: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [] },
    allCapabilities: CAPABILITY_NAMES,
    cgroupV2: false,
    ...over,
  };
}

describe('container args', () => {
  test('image entrypoint and cmd combine', () => {
    assert.deepEqual(containerArgs({}, { Entrypoint: ['/ep'], Cmd: ['a', 'b'] }), ['/ep', 'a', 'b']);
  });
  test('user cmd replaces image cmd, keeps entrypoint', () => {
    assert.deepEqual(containerArgs({ Cmd: ['x'] }, { Entrypoint: ['/ep'], Cmd: ['a'] }), ['/ep', 'x']);
  });
  test('user entrypoint drops the image cmd', () => {
    assert.deepEqual(containerArgs({ Entrypoint: ['/other'] }, { Entrypoint: ['/ep'], Cmd: ['a'] }), ['/other']);
  });
  test('no command at all is a clear 400', () => {
    assert.throws(() => containerArgs({}, {}), (e) => isBerthError(e, 'BERTH_CONTAINER_NO_COMMAND') && e.status === 400);
  });
});

describe('environment', () => {
  test('user env overrides image env, PATH and HOSTNAME defaulted, TERM with a tty', () => {
    const env = containerEnv({ Env: ['FOO=user', 'BARE'], Tty: true }, { Env: ['FOO=image', 'PATH=/bin'] }, 'host1');
    assert.deepEqual(env, ['PATH=/bin', 'HOSTNAME=host1', 'FOO=user', 'TERM=xterm']);
  });
});

describe('capabilities', () => {
  test('defaults are Docker\'s 14', () => {
    assert.equal(containerCapabilities({}, CAPABILITY_NAMES).length, 14);
  });
  test('add and drop, with and without CAP_ prefix', () => {
    const caps = containerCapabilities({ CapAdd: ['SYS_ADMIN'], CapDrop: ['CAP_NET_RAW'] }, CAPABILITY_NAMES);
    assert.ok(caps.includes('CAP_SYS_ADMIN'));
    assert.ok(!caps.includes('CAP_NET_RAW'));
  });
  test('drop ALL then add one', () => {
    assert.deepEqual(containerCapabilities({ CapDrop: ['ALL'], CapAdd: ['chown'] }, CAPABILITY_NAMES), ['CAP_CHOWN']);
  });
  test('unknown capability refused, naming it', () => {
    assert.throws(() => containerCapabilities({ CapAdd: ['CAP_FLY'] }, CAPABILITY_NAMES), /CAP_FLY/);
  });
  test('privileged gets every capability', () => {
    assert.equal(containerCapabilities({ Privileged: true }, CAPABILITY_NAMES).length, CAPABILITY_NAMES.length);
  });
});

describe('spec', () => {
  test('Docker defaults: mounts, masked paths, namespaces, cgroups path, seccomp', () => {
    const spec = buildContainerSpec(inputs());
    const dests = spec.mounts!.map((m) => m.destination);
    for (const d of ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']) assert.ok(dests.includes(d), d);
    assert.ok(spec.linux!.maskedPaths!.includes('/proc/kcore'));
    assert.ok(spec.linux!.readonlyPaths!.includes('/proc/sys'));
    assert.deepEqual(spec.linux!.namespaces!.map((n) => n.type), ['mount', 'network', 'uts', 'pid', 'ipc']);
    assert.equal(spec.linux!.cgroupsPath, `/berth/${id}`);
    assert.equal(spec.hostname, id.slice(0, 12));
    assert.ok(spec.linux!.seccomp);
    assert.equal(spec.process!.cwd, '/');
  });
  test('cgroup v2 hosts get a private cgroup namespace', () => {
    const spec = buildContainerSpec(inputs({ cgroupV2: true }));
    assert.ok(spec.linux!.namespaces!.some((n) => n.type === 'cgroup'));
  });
  test('host network shares the host network namespace', () => {
    const spec = buildContainerSpec(inputs({ hostConfig: { NetworkMode: 'host' } }));
    assert.ok(!spec.linux!.namespaces!.some((n) => n.type === 'network'));
  });
  test('resources: memory with default swap, cpus, pids', () => {
    const spec = buildContainerSpec(inputs({ hostConfig: { Memory: 64 << 20, NanoCpus: 1.5e9, PidsLimit: 20 } }));
    assert.deepEqual(spec.linux!.resources!.memory, { limit: 64 << 20, swap: 128 << 20 });
    assert.deepEqual(spec.linux!.resources!.cpu, { quota: 150000, period: 100000 });
    assert.deepEqual(spec.linux!.resources!.pids, { limit: 20 });
  });
  test('too small a memory limit is refused', () => {
    assert.throws(() => buildContainerSpec(inputs({ hostConfig: { Memory: 1024 } })), /minimum memory/);
  });
  test('privileged: no masks, no seccomp, all devices', () => {
    const spec = buildContainerSpec(inputs({ hostConfig: { Privileged: true } }));
    assert.deepEqual(spec.linux!.maskedPaths, []);
    assert.equal(spec.linux!.seccomp, undefined);
    assert.deepEqual(spec.linux!.resources!.devices, [{ allow: true, access: 'rwm' }]);
  });
  test('user mount over /dev/shm replaces the default', () => {
    const spec = buildContainerSpec(inputs({ userMounts: [{ destination: '/dev/shm', type: 'bind', source: '/tmp', options: ['rbind'] }] }));
    const shm = spec.mounts!.filter((m) => m.destination === '/dev/shm');
    assert.equal(shm.length, 1);
    assert.equal(shm[0]!.type, 'bind');
  });
  test('read-only root, ulimits, relative workdir refused', () => {
    const spec = buildContainerSpec(inputs({ hostConfig: { ReadonlyRootfs: true, Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }] } }));
    assert.equal(spec.root!.readonly, true);
    assert.deepEqual(spec.process!.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]);
    assert.throws(() => buildContainerSpec(inputs({ config: { Cmd: ['sh'], WorkingDir: 'rel' } })), /absolute/);
  });
  test('security options', () => {
    assert.deepEqual(parseSecurityOpts(['no-new-privileges']), { noNewPrivileges: true, seccomp: 'default' });
    assert.equal(parseSecurityOpts(['seccomp=unconfined']).seccomp, 'unconfined');
    assert.throws(() => parseSecurityOpts(['bogus=1']), /unsupported/);
    const spec = buildContainerSpec(inputs({ hostConfig: { SecurityOpt: ['seccomp=unconfined', 'no-new-privileges:true'] } }));
    assert.equal(spec.linux!.seccomp, undefined);
    assert.equal(spec.process!.noNewPrivileges, true);
  });
  test('nano cpus conversion', () => {
    assert.deepEqual(nanoCpusToQuota(0.5e9), { quota: 50000, period: 100000 });
  });
});
