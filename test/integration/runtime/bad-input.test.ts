/**
 * Bad bundles: each is refused with a clear error naming the field, a
 * non-zero exit, and nothing left behind (no state, no process, no cgroup).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../../../src/oci/runtime-spec.ts';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { buildNative, cli, makeBundle, makeRuntimeRoot, processesUnder } from './harness.ts';
import type { Bundle } from './harness.ts';

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;
let n = 0;

async function expectRefused(config: string | ((s: Spec) => void), message: RegExp): Promise<void> {
  if (typeof config === 'string') {
    writeFileSync(join(bundle.dir, 'config.json'), config);
  } else {
    const spec = defaultSpec();
    spec.process!.terminal = false;
    spec.process!.args = ['true'];
    config(spec);
    writeFileSync(join(bundle.dir, 'config.json'), JSON.stringify(spec));
  }
  const id = `bad-${n++}`;
  for (const cmd of ['create', 'run']) {
    const r = await cli(env.root, [cmd, '--bundle', bundle.dir, id]);
    assert.notEqual(r.code, 0, `${cmd} must fail`);
    assert.match(r.stderr, message);
    assert.equal(existsSync(join(env.root, id)), false, 'no state left');
  }
  assert.deepEqual(processesUnder(bundle.rootfs), []);
  assert.equal(existsSync(`/sys/fs/cgroup/memory/berth/${id}`), false, 'no cgroup left');
}

describe('berth-runtime: bad input', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
  });
  after(async () => {
    await env.cleanup();
  });

  test('config.json that is not JSON', () => expectRefused('{"ociVersion": "1.2.0", ', /config\.json: not valid JSON/));
  test('no config.json at all', async () => {
    rmSync(join(bundle.dir, 'config.json'), { force: true });
    const r = await cli(env.root, ['create', '--bundle', bundle.dir, 'nocfg']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot read config\.json \(ENOENT\)/);
  });
  test('an rlimit above what this engine may raise is refused, naming the limit (runc refuses too); a soft limit above its hard one', async () => {
    const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
    if (hard > 0 && ((capEff >> 24n) & 1n) === 0n) {
      await expectRefused((s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: hard * 2, hard: hard * 2 }]), /process\.rlimits\[0\]: RLIMIT_NOFILE: hard limit \d+ is above this host's \d+, and raising it needs CAP_SYS_RESOURCE/);
    }
    await expectRefused((s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 20, hard: 10 }]), /process\.rlimits\[0\]: RLIMIT_NOFILE: soft limit 20 is above the hard limit 10/);
  });
  test('missing ociVersion', () => expectRefused((s) => delete (s as Partial<Spec>).ociVersion, /config\.json: ociVersion: required/));
  test('missing process.args', () => expectRefused((s) => delete s.process!.args, /config\.json: process\.args: must be a non-empty array/));
  test('missing process.cwd', () => expectRefused((s) => delete (s.process as Partial<NonNullable<Spec['process']>>).cwd, /process\.cwd: must be an absolute path/));
  test('missing root', () => expectRefused((s) => delete s.root, /config\.json: root: required/));
  test('unknown namespace', () =>
    expectRefused((s) => s.linux!.namespaces!.push({ type: 'bogus' as 'pid' }), /linux\.namespaces\[6\]\.type: unknown namespace type "bogus"/));
  test('unknown capability', () =>
    expectRefused((s) => s.process!.capabilities!.bounding!.push('CAP_BOGUS'), /process\.capabilities\.bounding\[3\]: unknown capability "CAP_BOGUS"/));
  test('unknown seccomp action', () =>
    expectRefused((s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_EXPLODE' as 'SCMP_ACT_KILL' }] };
    }, /linux\.seccomp\.syscalls\[0\]\.action.*SCMP_ACT_EXPLODE/));
  test('rootfs that does not exist', () => expectRefused((s) => (s.root!.path = 'no-such-rootfs'), /root\.path: rootfs .*no-such-rootfs does not exist/));
  test('args[0] not in the rootfs', () =>
    expectRefused((s) => (s.process!.args = ['no-such-binary']), /process\.args\[0\]: "no-such-binary" not found in the rootfs/));
  test('args[0] that exists but cannot be executed: create fails, as runc, not at start', async () => {
    await expectRefused((s) => (s.process!.args = ['/etc/passwd']), /process\.args\[0\]: exec "\/etc\/passwd": permission denied \(\/etc\/passwd is not executable\)/);
    await expectRefused((s) => (s.process!.args = ['/etc']), /process\.args\[0\]: exec "\/etc": permission denied \(\/etc is a directory\)/);
    // A PATH search skips what is not executable (Go's LookPath, execvp).
    await expectRefused((s) => {
      s.process!.args = ['passwd'];
      s.process!.env = ['PATH=/etc'];
    }, /process\.args\[0\]: "passwd" not found in the rootfs \(PATH=\/etc; \/etc\/passwd exists but is not executable\)/);
  });
  test('unknown rlimit', () => expectRefused((s) => s.process!.rlimits!.push({ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }), /process\.rlimits\[1\]\.type: unknown rlimit/));
  test('a bind mount whose source does not exist', () =>
    expectRefused((s) => s.mounts!.push({ destination: '/x', type: 'bind', source: '/no/such/source', options: ['rbind'] }), /mounts\[7\]\.source: bind source \/no\/such\/source does not exist/));
  test('a non-absolute mount destination', () =>
    expectRefused((s) => s.mounts!.push({ destination: 'relative', type: 'tmpfs', source: 'tmpfs' }), /mounts\[7\]\.destination: must be an absolute path/));
  test('a mount inside /proc is refused as runc does (binds and other types; proc, sysfs, tmpfs, mqueue are not checked)', async () => {
    await expectRefused((s) => s.mounts!.push({ destination: '/proc/sys/kernel', type: 'bind', source: '/tmp', options: ['rbind'] }),
      /config\.json: mounts\[7\]\.destination: "\/proc\/sys\/kernel" cannot be mounted because it is inside \/proc/);
    await expectRefused((s) => s.mounts!.push({ destination: '/proc/self/attr/exec', type: 'none', source: '/etc/hostname', options: ['bind'] }),
      /mounts\[7\]\.destination: "\/proc\/self\/attr\/exec" cannot be mounted because it is inside \/proc/);
    await expectRefused((s) => s.mounts!.push({ destination: '/proc/sys/kernel', type: 'devpts', source: 'devpts' }),
      /mounts\[7\]\.destination: "\/proc\/sys\/kernel" cannot be mounted because it is inside \/proc/);
    // A symlink in the image that leads into /proc is followed (inside the rootfs) before the check.
    symlinkSync('/proc/sys', join(bundle.rootfs, 'to-proc-sys'));
    try {
      await expectRefused((s) => s.mounts!.push({ destination: '/to-proc-sys/kernel', type: 'bind', source: '/tmp', options: ['rbind'] }),
        /mounts\[7\]\.destination: "\/proc\/sys\/kernel" cannot be mounted because it is inside \/proc/);
    } finally {
      rmSync(join(bundle.rootfs, 'to-proc-sys'));
    }
    await expectRefused((s) => s.mounts!.push({ destination: '/proc', type: 'bind', source: '/tmp', options: ['rbind'] }),
      /mounts\[7\]\.destination: "\/proc" cannot be mounted because it is not of type proc/);
  });
  test('an LSM label on a host without that LSM is refused (runc: selinux label … but selinux is disabled)', async () => {
    if (!existsSync('/sys/fs/selinux/enforce')) {
      await expectRefused((s) => (s.process!.selinuxLabel = 'system_u:system_r:container_t:s0'),
        /config\.json: process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported/);
    }
    const apparmor = existsSync('/sys/module/apparmor/parameters/enabled') && readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
    if (!apparmor) {
      await expectRefused((s) => (s.process!.apparmorProfile = 'berth-test'),
        /config\.json: process\.apparmorProfile: apparmor profile "berth-test" is specified in config, but AppArmor is disabled or not supported/);
    }
  });
  test('bad process.ioPriority and process.scheduler name the field', async () => {
    await expectRefused((s) => (s.process!.ioPriority = { class: 'IOPRIO_CLASS_BOGUS' as 'IOPRIO_CLASS_BE', priority: 0 }), /process\.ioPriority\.class: must be one of IOPRIO_CLASS_RT/);
    await expectRefused((s) => (s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }), /process\.ioPriority\.priority: must be an integer 0–7, got 8/);
    await expectRefused((s) => (s.process!.scheduler = { policy: 'SCHED_WHENEVER' }), /process\.scheduler\.policy: must be one of SCHED_OTHER/);
    await expectRefused((s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', nice: 20 }), /process\.scheduler\.nice: must be an integer -20–19/);
    await expectRefused((s) => (s.process!.scheduler = { policy: 'SCHED_BATCH', priority: 5 }), /process\.scheduler\.priority: can only be set for SCHED_FIFO or SCHED_RR/);
    await expectRefused((s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', runtime: 1000 }), /process\.scheduler\.runtime: can only be set for SCHED_DEADLINE/);
    await expectRefused((s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE'] }), /process\.scheduler\.flags\[0\]: unknown flag "SCHED_FLAG_NOPE"/);
  });
  test('a rootfs that is a symlink is refused, as runc (invalid rootfs: not an absolute path, or a symlink)', async () => {
    symlinkSync(bundle.rootfs, join(bundle.dir, 'rootfs-link'));
    try {
      await expectRefused((s) => (s.root!.path = 'rootfs-link'), /config\.json: root\.path: invalid rootfs: not an absolute path, or a symlink/);
      await expectRefused((s) => (s.root!.path = join(bundle.dir, 'rootfs-link')), /root\.path: invalid rootfs: not an absolute path, or a symlink/);
    } finally {
      rmSync(join(bundle.dir, 'rootfs-link'));
    }
  });
  test('process.env entries without a name are refused, as runc', async () => {
    await expectRefused((s) => s.process!.env!.push('A'), /config\.json: process\.env\[2\]: invalid environment variable: "A"/);
    await expectRefused((s) => s.process!.env!.push('=x'), /process\.env\[2\]: environment variable name can't be empty: "=x"/);
  });
  test('a sysctl that is not namespaced', () => expectRefused((s) => (s.linux!.sysctl = { 'vm.swappiness': '1' }), /linux\.sysctl\.vm\.swappiness: is not namespaced/));
  test('a bad container id', async () => {
    const r = await cli(env.root, ['create', '--bundle', bundle.dir, '../escape']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid container id/);
    assert.deepEqual(readdirSync(env.tmp).includes('escape'), false);
  });
  test('a container id that is taken', async () => {
    const spec = defaultSpec();
    spec.process!.terminal = false;
    spec.process!.args = ['sleep', '100'];
    writeFileSync(join(bundle.dir, 'config.json'), JSON.stringify(spec));
    assert.equal((await cli(env.root, ['create', '--bundle', bundle.dir, 'taken'])).code, 0);
    try {
      const r = await cli(env.root, ['create', '--bundle', bundle.dir, 'taken']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /container taken already exists/);
      assert.equal(JSON.parse((await cli(env.root, ['state', 'taken'])).stdout).status, 'created', 'the first one is untouched');
    } finally {
      await cli(env.root, ['delete', '--force', 'taken']);
    }
  });
  test('--log with --log-format json records the error as runc does (containerd reads it)', async () => {
    writeFileSync(join(bundle.dir, 'config.json'), '{ not json');
    const log = join(env.tmp, 'runtime.log');
    const r = await cli(env.root, ['--log', log, '--log-format', 'json', 'create', '--bundle', bundle.dir, 'logged']);
    assert.notEqual(r.code, 0);
    const entry = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!);
    assert.equal(entry.level, 'error');
    assert.match(entry.msg, /config\.json: not valid JSON/);
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT/);
  });
  test('unknown commands, signals and missing containers', async () => {
    assert.match((await cli(env.root, ['frobnicate'])).stderr, /unknown command "frobnicate"/);
    assert.match((await cli(env.root, ['state', 'nope'])).stderr, /container nope does not exist/);
    assert.match((await cli(env.root, ['kill', 'nope', 'SIGBOGUS'])).stderr, /does not exist|unknown signal/);
  });
});
