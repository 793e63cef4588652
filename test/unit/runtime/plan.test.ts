/**
 * spec → plan: the records the launcher will execute, decoded back. No root
 * needed: the plan is computed, not run.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../../../src/oci/runtime-spec.ts';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { computePlan, CLONE_FLAGS } from '../../../src/runtime/plan.ts';
import { decodePlan, PLAN_OP, MODE_DETACH } from '../../../src/runtime/plan-format.ts';
import { MS, parseMountOptions } from '../../../src/runtime/mount-options.ts';
import { resolveInRoot } from '../../../src/runtime/resolve-in-root.ts';
import { parseFlags } from '../../../src/runtime/cli/args.ts';
import { parseSignal } from '../../../src/runtime/signals.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

let dir: string;
let rootfs: string;

const opName = Object.fromEntries(Object.entries(PLAN_OP).map(([k, v]) => [v, k]));
function records(spec: Spec, extra: Partial<Parameters<typeof computePlan>[0]> = {}) {
  const plan = computePlan({ spec, rootfs, bundle: dir, process: spec.process!, ...extra });
  return decodePlan(plan.bytes).map((r) => ({ op: opName[r.op]!, fields: r.fields.map((f) => f.toString()) }));
}
function spec(): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = ['sh', '-c', 'true'];
  return s;
}

describe('computePlan', () => {
  before(async () => {
    dir = await makeTempDir('berth-plan-');
    rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    writeFileSync(join(rootfs, 'bin/sh'), '', { mode: 0o755 });
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n');
  });
  after(async () => {
    await removeTempDir(dir);
  });

  test('namespaces, mounts in order, devices, symlinks, masks and the process', () => {
    const recs = records(spec(), { detach: true, execFifo: '/run/x/exec.fifo' });
    assert.deepEqual(recs[0], { op: 'MODE', fields: [String(MODE_DETACH)] });
    const ns = recs.find((r) => r.op === 'NS_NEW')!;
    const want = CLONE_FLAGS.pid | CLONE_FLAGS.network | CLONE_FLAGS.ipc | CLONE_FLAGS.uts | CLONE_FLAGS.mount | CLONE_FLAGS.cgroup;
    assert.equal(Number(ns.fields[0]), want);
    const mounts = recs.filter((r) => r.op === 'MOUNT');
    assert.deepEqual(mounts.slice(0, 3).map((m) => [m.fields[1], m.fields[2]]), [['/proc', 'proc'], ['/dev', 'tmpfs'], ['/dev/pts', 'devpts']]);
    const dev = mounts[1]!;
    assert.equal(Number(dev.fields[3]), MS.NOSUID | MS.STRICTATIME);
    assert.equal(dev.fields[4], 'mode=755,size=65536k');
    assert.ok(recs.some((r) => r.op === 'MKNOD' && r.fields[0] === '/dev/null' && Number(r.fields[1]) === (0o020000 | 0o666) && r.fields[2] === '1' && r.fields[3] === '3'));
    assert.ok(recs.some((r) => r.op === 'SYMLINK' && r.fields[0] === 'pts/ptmx' && r.fields[1] === '/dev/ptmx'));
    assert.ok(recs.some((r) => r.op === 'MASK' && r.fields[0] === '/proc/kcore'));
    assert.ok(recs.some((r) => r.op === 'READONLY_PATH' && r.fields[0] === '/proc/sys'));
    assert.ok(recs.some((r) => r.op === 'ROOT_READONLY'));
    assert.deepEqual(recs.find((r) => r.op === 'HOSTNAME')!.fields, ['berth']);
    assert.ok(recs.some((r) => r.op === 'LOOPBACK_UP'), 'a new network namespace gets lo up');
    // AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10); ambient needs inheritable, which is empty.
    assert.deepEqual(recs.find((r) => r.op === 'CAPS')!.fields, ['536871968', '536871968', '536871968', '0', '0']);
    assert.deepEqual(recs.find((r) => r.op === 'RLIMIT')!.fields, ['7', '1024', '1024', '0']);
    assert.deepEqual(recs.find((r) => r.op === 'EXEC_PATH')!.fields, ['/bin/sh']);
    assert.deepEqual(recs.find((r) => r.op === 'ARGS')!.fields, ['sh', '-c', 'true']);
    assert.ok(recs.find((r) => r.op === 'ENV')!.fields.includes('HOME=/root'));
    assert.deepEqual(recs.find((r) => r.op === 'EXEC_FIFO')!.fields, ['/run/x/exec.fifo']);
    // Order the launcher relies on: rootfs before mounts, process last.
    const idx = (op: string) => recs.findIndex((r) => r.op === op);
    assert.ok(idx('ROOTFS') < idx('MOUNT') && idx('MOUNT') < idx('CAPS') && idx('CAPS') < idx('ARGS'));
  });

  test('bind mounts: MS_BIND|MS_REC first, the other flags as a remount; files get a file mount point', () => {
    writeFileSync(join(dir, 'hostfile'), 'x');
    const s = spec();
    s.mounts!.push({ destination: '/data', type: 'bind', source: dir, options: ['rbind', 'ro', 'nosuid', 'rprivate'] });
    s.mounts!.push({ destination: '/etc/hostname', source: 'hostfile', options: ['bind'] });
    const m = records(s).filter((r) => r.op === 'MOUNT');
    const data = m.find((r) => r.fields[1] === '/data')!;
    assert.deepEqual(data.fields, [dir, '/data', '', String(MS.BIND | MS.REC), '', String(MS.PRIVATE | MS.REC), String(MS.RDONLY | MS.NOSUID), 'd']);
    const file = m.find((r) => r.fields[1] === '/etc/hostname')!;
    assert.equal(file.fields[0], join(dir, 'hostfile'), 'relative sources are relative to the bundle');
    assert.equal(file.fields[7], 'f');
  });

  test('default devices and /dev symlinks unless /dev is a bind mount (runc needsSetupDev)', () => {
    const noDev = spec();
    noDev.mounts = noDev.mounts!.filter((m) => !m.destination.startsWith('/dev'));
    const recs = records(noDev);
    assert.deepEqual(recs.filter((r) => r.op === 'MKNOD').map((r) => r.fields[0]), ['/dev/null', '/dev/zero', '/dev/full', '/dev/tty', '/dev/random', '/dev/urandom']);
    assert.deepEqual(recs.filter((r) => r.op === 'SYMLINK').map((r) => r.fields[1]), ['/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/ptmx']);
    const bound = spec();
    bound.mounts = [...noDev.mounts, { destination: '/dev', source: '/dev', options: ['rbind'] }];
    bound.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
    assert.equal(records(bound).some((r) => r.op === 'MKNOD' || r.op === 'SYMLINK'), false, 'nothing is made in a bound /dev, linux.devices included');
  });

  test('rootfsPropagation: rslave by default; shared makes the rootfs parent mount private and is reapplied after pivot', () => {
    const def = records(spec());
    assert.deepEqual(def.find((r) => r.op === 'ROOTFS_PROPAGATION')!.fields, [String(MS.SLAVE | MS.REC), '0']);
    assert.equal(def.some((r) => r.op === 'ROOTFS_PARENT_PRIVATE'), false);
    const s = spec();
    s.linux!.rootfsPropagation = 'rshared';
    const recs = records(s);
    assert.deepEqual(recs.find((r) => r.op === 'ROOTFS_PROPAGATION')!.fields, [String(MS.SHARED | MS.REC), String(MS.SHARED | MS.REC)]);
    const parent = recs.find((r) => r.op === 'ROOTFS_PARENT_PRIVATE')!.fields[0]!;
    const real = realpathSync(rootfs);
    assert.ok(parent === '/' || real === parent || real.startsWith(parent + '/'), `${parent} holds ${real}`);
    assert.ok(recs.findIndex((r) => r.op === 'ROOTFS_PARENT_PRIVATE') < recs.findIndex((r) => r.op === 'MOUNT'));
    const priv = spec();
    priv.linux!.rootfsPropagation = 'rprivate';
    assert.deepEqual(records(priv).find((r) => r.op === 'ROOTFS_PROPAGATION')!.fields, [String(MS.PRIVATE | MS.REC), '0']);
  });

  test('ioPriority and scheduler become ioprio_set and sched_setattr records (create and exec)', () => {
    const s = spec();
    s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    s.process!.scheduler = { policy: 'SCHED_DEADLINE', flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_RECLAIM'], runtime: 10_000_000, deadline: 30_000_000, period: 30_000_000 };
    for (const extra of [{}, { joinPid: 4242 }]) {
      const recs = records(s, extra);
      assert.deepEqual(recs.find((r) => r.op === 'IOPRIO')!.fields, [String((2 << 13) | 6)]);
      assert.deepEqual(recs.find((r) => r.op === 'SCHED')!.fields, ['6', '3', '0', '0', '10000000', '30000000', '30000000']);
    }
    const nice = spec();
    nice.process!.scheduler = { policy: 'SCHED_OTHER', nice: -5 };
    assert.deepEqual(records(nice).find((r) => r.op === 'SCHED')!.fields, ['0', '0', '-5', '0', '0', '0', '0']);
    const fifo = spec();
    fifo.process!.scheduler = { policy: 'SCHED_FIFO' };
    assert.throws(() => records(fifo), /process\.scheduler\.priority: SCHED_FIFO needs a priority 1–99, got 0/);
  });

  test('user namespace: maps, devices bound from the host instead of mknod', () => {
    const s = spec();
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 1000 }];
    const recs = records(s);
    assert.deepEqual(recs.find((r) => r.op === 'UID_MAP')!.fields, ['0 100000 65536\n']);
    assert.deepEqual(recs.find((r) => r.op === 'GID_MAP')!.fields, ['0 200000 1000\n']);
    assert.equal(recs.some((r) => r.op === 'MKNOD'), false);
    assert.ok(recs.some((r) => r.op === 'DEVBIND' && r.fields[0] === '/dev/null'));
  });

  test('exec: joins the init namespaces in a safe order and mounts nothing', () => {
    const recs = records(spec(), { joinPid: 4242 });
    const joins = recs.filter((r) => r.op === 'NS_JOIN').map((r) => r.fields[1]);
    assert.deepEqual(joins, ['/proc/4242/ns/ipc', '/proc/4242/ns/uts', '/proc/4242/ns/net', '/proc/4242/ns/pid', '/proc/4242/ns/cgroup', '/proc/4242/ns/mnt']);
    assert.equal(recs.some((r) => r.op === 'MOUNT' || r.op === 'ROOTFS' || r.op === 'NS_NEW' || r.op === 'LOOPBACK_UP'), false);
  });

  test('rlimits beyond 2^63 mean unlimited; seccomp goes in early without no_new_privs', () => {
    const s = spec();
    s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 }];
    s.process!.noNewPrivileges = false;
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    const recs = records(s);
    assert.deepEqual(recs.find((r) => r.op === 'RLIMIT')!.fields, ['4', '18446744073709551615', '18446744073709551615', '0']);
    const sec = decodePlan(computePlan({ spec: s, rootfs, bundle: dir, process: s.process! }).bytes).find((r) => r.op === PLAN_OP.SECCOMP)!;
    assert.equal(sec.fields[0]!.length % 8, 0, 'whole sock_filter instructions');
    assert.equal(sec.fields[2]!.toString(), '1');
  });

  test('policy errors name the field', () => {
    const noUts = spec();
    noUts.linux!.namespaces = noUts.linux!.namespaces!.filter((n) => n.type !== 'uts');
    assert.throws(() => records(noUts), /config\.json: hostname: setting a hostname needs a new uts namespace/);
    const sysctl = spec();
    sysctl.linux!.sysctl = { 'kernel.panic': '1' };
    assert.throws(() => records(sysctl), /linux\.sysctl\.kernel\.panic: is not namespaced/);
    const noMaps = spec();
    noMaps.linux!.namespaces!.push({ type: 'user' });
    assert.throws(() => records(noMaps), /linux\.uidMappings: a new user namespace needs uidMappings/);
    const noMntNs = spec();
    noMntNs.linux!.namespaces = noMntNs.linux!.namespaces!.filter((n) => n.type !== 'mount');
    assert.throws(() => records(noMntNs), /a mount namespace is required/);
    const tty = spec();
    tty.process!.terminal = true;
    assert.throws(() => records(tty, { detach: true }), /--console-socket is needed/);
    assert.ok(records(tty).some((r) => r.op === 'TERMINAL'), 'attached, the launcher proxies the pty itself');
  });
});

describe('mount options', () => {
  test('flags, clearing flags, propagation and data', () => {
    assert.deepEqual(parseMountOptions(['ro', 'nosuid', 'rw', 'nodev', 'rshared', 'mode=755', 'size=1k']), {
      flags: MS.NOSUID | MS.NODEV,
      propagation: MS.SHARED | MS.REC,
      data: ['mode=755', 'size=1k'],
    });
    assert.equal(parseMountOptions(['rro']).flags, MS.RDONLY);
  });
});

describe('resolveInRoot', () => {
  test('absolute symlinks restart at the rootfs; .. cannot climb out; escapes are reported', async () => {
    const d = await makeTempDir('berth-resolve-');
    try {
      mkdirSync(join(d, 'run/real'), { recursive: true });
      symlinkSync('/run', join(d, 'varrun'));
      symlinkSync('../../../../etc', join(d, 'up'));
      const a = resolveInRoot(d, '/varrun/real/x');
      assert.equal(a.containerPath, '/run/real/x');
      assert.equal(a.hostPath, join(d, 'run/real/x'));
      assert.equal(a.escape, undefined);
      const b = resolveInRoot(d, '/up/passwd');
      assert.equal(b.containerPath, '/etc/passwd');
      assert.deepEqual(b.escape, { link: '/up', target: '../../../../etc' });
      assert.equal(resolveInRoot(d, '/a/../../b').containerPath, '/b');
    } finally {
      await removeTempDir(d);
    }
  });
});

describe('berth-runtime arguments', () => {
  test('runc-style flags: long, short, --x=y, repeated; exec stops at the id', () => {
    const p = parseFlags(['--bundle', '/b', '-d', '--pid-file=/p', 'id'], { bundle: { value: true, short: 'b' }, detach: { value: false, short: 'd' }, 'pid-file': { value: true } });
    assert.deepEqual([...p.flags], [['bundle', ['/b']], ['detach', ['true']], ['pid-file', ['/p']]]);
    assert.deepEqual(p.positionals, ['id']);
    const e = parseFlags(['-e', 'A=1', '--env', 'B=2', 'id', 'sh', '-c', 'x'], { env: { value: true, short: 'e' } }, { stopAtPositional: true });
    assert.deepEqual(e.flags.get('env'), ['A=1', 'B=2']);
    assert.deepEqual(e.rest, ['id', 'sh', '-c', 'x']);
    assert.throws(() => parseFlags(['--nope'], {}), /unknown flag --nope/);
  });
  test('signals by number and by name', () => {
    assert.equal(parseSignal('9'), 9);
    assert.equal(parseSignal('KILL'), 9);
    assert.equal(parseSignal('sigterm'), 15);
    assert.throws(() => parseSignal('SIGNOPE'), /unknown signal "SIGNOPE"/);
  });
});
