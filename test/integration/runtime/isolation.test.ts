/**
 * One test per isolation the config asks for, through `berth-runtime run`
 * on a busybox bundle, on the real kernel.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, readlinkSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSeccompProfile } from '../../../src/runtime/seccomp/index.ts';
import { buildNative, cli, makeBundle, makeRuntimeRoot, processesUnder, shArgs } from './harness.ts';
import type { Bundle } from './harness.ts';

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;
let n = 0;
const freshSpec = JSON.stringify((await import('../../../src/runtime/default-spec.ts')).defaultSpec());

async function run(script: string, patch?: (b: Bundle) => void) {
  bundle.spec = JSON.parse(freshSpec);
  bundle.spec.process!.terminal = false;
  bundle.spec.process!.args = shArgs(script);
  patch?.(bundle);
  bundle.write();
  return cli(env.root, ['run', '--bundle', bundle.dir, `iso-${n++}`]);
}

describe('berth-runtime run: isolation', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
    // A user-namespaced root must be able to reach the bundle and the state dir, as under /run.
    chmodSync(env.tmp, 0o755);
  });
  after(async () => {
    await env.cleanup();
  });

  test('the container sees itself as PID 1 with its own hostname', async () => {
    const r = await run('echo pid=$$; hostname');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pid=1\nberth\n');
  });

  test('exit status comes back exactly; a SIGKILL death is 137', async () => {
    assert.equal((await run('exit 3')).code, 3);
    const id = `iso-${n}`;
    const running = run('echo started; exec sleep 100');
    for (let i = 0; i < 200; i++) {
      const st = await cli(env.root, ['state', id]);
      if (st.code === 0 && JSON.parse(st.stdout).status === 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const k = await cli(env.root, ['kill', id, 'KILL']);
    assert.equal(k.code, 0, k.stderr);
    const r = await running;
    assert.equal(r.code, 137);
    assert.equal(r.stdout, 'started\n');
  });

  test('no host mounts are visible; the rootfs path is not either', async () => {
    mkdirSync(join(env.tmp, 'hostonly'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'hostonly', join(env.tmp, 'hostonly')]);
    try {
      const r = await run('cat /proc/self/mountinfo');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /hostonly/);
      const points = r.stdout.trim().split('\n').map((l) => l.split(' ')[4]!);
      assert.deepEqual(points.filter((p) => p.startsWith('/tmp') || p.startsWith('/boot') || p.startsWith('/run')), []);
      assert.equal(points[0], '/');
      assert.ok(points.includes('/proc') && points.includes('/dev/pts') && points.includes('/sys'), points.join(' '));
    } finally {
      execFileSync('umount', [join(env.tmp, 'hostonly')]);
    }
  });

  test('a read-only root refuses writes; /tmp-like mounts still work', async () => {
    const r = await run('touch /newfile; echo rc=$?; touch /dev/shm/ok && echo shm-ok');
    assert.match(r.stderr + r.stdout, /Read-only file system/);
    assert.match(r.stdout, /rc=1\nshm-ok/);
  });

  test('masked paths read empty, readonly paths refuse writes', async () => {
    assert.ok(readFileSync('/proc/timer_list').length > 0, 'the host has a /proc/timer_list to mask');
    const r = await run('wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; echo 1 > /proc/sysrq-trigger; echo rc=$?');
    assert.match(r.stdout, /^0\n0\n/);
    assert.match(r.stdout, /rc=1/);
  });

  test('a dropped capability denies its operation (CAP_SYS_ADMIN mount, CAP_CHOWN)', async () => {
    const denied = await run('mount -t tmpfs none /mnt; echo mount=$?; chown 1 /dev/shm; echo chown=$?', (b) => {
      b.spec.root!.readonly = false;
    });
    assert.match(denied.stdout, /mount=\d*[1-9]/);
    assert.match(denied.stdout, /chown=1/);
    const granted = await run('mkdir -p /mnt2 && mount -t tmpfs none /mnt2; echo mount=$?; chown 1 /dev/shm; echo chown=$?', (b) => {
      b.spec.root!.readonly = false;
      const caps = ['CAP_SYS_ADMIN', 'CAP_CHOWN'];
      for (const k of ['bounding', 'effective', 'permitted'] as const) b.spec.process!.capabilities![k]!.push(...caps);
    });
    assert.match(granted.stdout, /mount=0\nchown=0/, granted.stderr);
  });

  test('capability sets are exactly the configured ones', async () => {
    const r = await run('grep ^Cap /proc/self/status');
    // AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10) → 0x20000420
    assert.match(r.stdout, /CapPrm:\s+0000000020000420/);
    assert.match(r.stdout, /CapEff:\s+0000000020000420/);
    assert.match(r.stdout, /CapBnd:\s+0000000020000420/);
  });

  test('noNewPrivileges stops a setuid binary from gaining root', async () => {
    const src = join(env.tmp, 'suid.c');
    writeFileSync(src, '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("euid=%d\\n",(int)geteuid());return 0;}\n');
    const bin = join(bundle.rootfs, 'bin/suidtest');
    execFileSync('gcc', ['-static', '-o', bin, src]);
    chmodSync(bin, 0o4755);
    const asUser = (nnp: boolean) =>
      run('/bin/suidtest; grep NoNewPrivs /proc/self/status', (b) => {
        b.spec.process!.user = { uid: 1000, gid: 1000 };
        b.spec.process!.noNewPrivileges = nnp;
        b.spec.process!.capabilities = { bounding: ['CAP_SETUID', 'CAP_SETGID'] };
      });
    const without = await asUser(false);
    assert.match(without.stdout, /euid=0\nNoNewPrivs:\s+0/, without.stderr);
    const withNnp = await asUser(true);
    assert.match(withNnp.stdout, /euid=1000\nNoNewPrivs:\s+1/, withNnp.stderr);
  });

  test("a user-namespaced container's root owns nothing on the host", async () => {
    const shared = join(env.tmp, 'shared');
    mkdirSync(shared, { recursive: true });
    chmodSync(shared, 0o777);
    // The image's files belong to host root here, so the mount point must exist already.
    mkdirSync(join(bundle.rootfs, 'shared'), { recursive: true });
    const r = await run('cat /proc/self/uid_map; id -u; touch /shared/made-by-root; echo rc=$?', (b) => {
      b.spec.linux!.namespaces!.push({ type: 'user' });
      b.spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      b.spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      b.spec.mounts!.push({ destination: '/shared', type: 'bind', source: shared, options: ['rbind', 'rw'] });
    });
    assert.match(r.stdout, /^\s*0\s+100000\s+65536\n0\nrc=0\n$/, r.stderr);
    const st = statSync(join(shared, 'made-by-root'));
    assert.equal(st.uid, 100000);
    assert.equal(st.gid, 100000);
  });

  test('rlimits are applied; a hard limit above the host hard limit is capped, not fatal', async () => {
    const r = await run('ulimit -n; ulimit -Hn; ulimit -Hs', (b) => {
      b.spec.process!.rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 123, hard: 456 },
        { type: 'RLIMIT_STACK', soft: 8 * 1024 * 1024, hard: 2 ** 62 },
      ];
    });
    assert.equal(r.code, 0, r.stderr);
    const [soft, hard] = r.stdout.split('\n');
    assert.equal(soft, '123');
    assert.equal(hard, '456');
  });

  test('env, cwd, user, additional groups and umask are the configured ones', async () => {
    const r = await run('echo $FOO; pwd; id; umask; echo $HOME', (b) => {
      b.spec.process!.env!.push('FOO=bar baz');
      b.spec.process!.cwd = '/tmp';
      b.spec.process!.user = { uid: 1000, gid: 1001, additionalGids: [5, 7], umask: 0o27 };
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bar baz\n/tmp\nuid=1000 gid=1001 groups=5,7\n0027\n/\n');
  });

  test('a memory limit OOM-kills a process that allocates past it', async () => {
    const r = await run('head -c 300m /dev/zero | tail > /dev/null; echo rc=$?; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null', (b) => {
      b.spec.linux!.resources = { ...b.spec.linux!.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
    });
    assert.match(r.stdout, /rc=137/, r.stderr);
  });

  test('a pids limit stops a fork bomb', async () => {
    const r = await run('i=0; while [ $i -lt 30 ]; do sleep 3 & i=$((i+1)); done; echo started; ls /proc | grep -c "^[0-9]"', (b) => {
      b.spec.linux!.resources = { ...b.spec.linux!.resources, pids: { limit: 10 } };
    });
    const count = Number(r.stdout.trim().split('\n').at(-1));
    assert.ok(count <= 10, `at most 10 processes, saw ${count}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  test('cgroupsPath is honoured and the cgroup is removed afterwards', async () => {
    const r = await run('cat /proc/self/cgroup | grep memory; test -e /sys/fs/cgroup/memory/memory.limit_in_bytes && echo seen', (b) => {
      b.spec.linux!.cgroupsPath = '/berth-rt-test/cg1';
      b.spec.linux!.namespaces = b.spec.linux!.namespaces!.filter((ns) => ns.type !== 'cgroup');
    });
    assert.match(r.stdout, /memory:\/berth-rt-test\/cg1/, r.stderr);
    assert.equal(existsSync('/sys/fs/cgroup/memory/berth-rt-test/cg1'), false);
    for (const c of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(`/sys/fs/cgroup/${c}/berth-rt-test`);
      } catch {
        /* not there */
      }
    }
  });

  test("Docker's default seccomp profile (wired through the plan) denies unshare and allows ordinary programs", async () => {
    const r = await run('unshare -r true; echo unshare=$?; ls / >/dev/null && echo ls-ok', (b) => {
      b.spec.linux!.seccomp = defaultSeccompProfile(b.spec.process!.capabilities!.bounding!);
    });
    assert.match(r.stdout, /unshare=1/, r.stderr);
    assert.match(r.stderr, /unshare: unshare\(0x10000000\): Operation not permitted/);
    assert.match(r.stdout, /ls-ok/);
  });

  test('a seccomp rule with errnoRet and an argument condition applies exactly', async () => {
    const r = await run('mkdir /tmp/a; echo mkdir=$?; echo x > /tmp/f; chmod 600 /tmp/f; echo chmod600=$?; chmod 644 /tmp/f; echo chmod644=$?', (b) => {
      b.spec.root!.readonly = false;
      b.spec.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          { names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, value: 0o600, op: 'SCMP_CMP_EQ' }] },
        ],
      };
    });
    assert.match(r.stderr, /mkdir: can't create directory '\/tmp\/a': Permission denied/);
    assert.match(r.stdout, /mkdir=1\nchmod600=1\nchmod644=0/, r.stderr);
  });

  test('seccomp: two conditions on one argument are ORed as runc adds them (setuid GE 100, LT 200 → errno 99 for every uid)', async () => {
    const src = join(env.tmp, 'setuid.c');
    writeFileSync(src, '#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\nint main(int c,char**v){for(int i=1;i<c;i++){errno=0;int r=setuid((uid_t)atoi(v[i]));printf("%s=%d\\n",v[i],r<0?errno:0);}return 0;}\n');
    execFileSync('gcc', ['-static', '-o', join(bundle.rootfs, 'bin/setuidtest'), src]);
    const r = await run('/bin/setuidtest 0 50 150 250', (b) => {
      b.spec.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['setuid'], action: 'SCMP_ACT_ERRNO', errnoRet: 99, args: [{ index: 0, value: 100, op: 'SCMP_CMP_GE' }, { index: 0, value: 200, op: 'SCMP_CMP_LT' }] }],
      };
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0=99\n50=99\n150=99\n250=99\n');
  });

  test('process.ioPriority and process.scheduler are applied before exec (and inherited by children)', async () => {
    // /proc/self/stat fields 19 (nice), 40 (rt_priority), 41 (policy: 3 SCHED_BATCH, 5 SCHED_IDLE).
    const stat = 'cut -d" " -f19,40,41 /proc/self/stat';
    const batch = await run(`ionice -p $$; ${stat}; sh -c 'ionice -p $$'`, (b) => {
      b.spec.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
      b.spec.process!.scheduler = { policy: 'SCHED_BATCH', nice: 7 };
    });
    assert.equal(batch.code, 0, batch.stderr);
    assert.equal(batch.stdout, 'best-effort: prio 6\n7 0 3\nbest-effort: prio 6\n');
    const idle = await run(`ionice -p $$; ${stat}`, (b) => {
      b.spec.process!.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 };
      b.spec.process!.scheduler = { policy: 'SCHED_IDLE' };
    });
    assert.equal(idle.code, 0, idle.stderr);
    assert.equal(idle.stdout, 'idle\n0 0 5\n');
  });

  test('a new network namespace has lo up: a server on 127.0.0.1 answers inside the container', async () => {
    const script =
      'ip link show lo | head -1; ' +
      "(echo pong | nc -l -p 7777 >/dev/null &) ; i=0; while [ $i -lt 50 ] && ! grep -q ':1E61 ' /proc/net/tcp; do sleep 0.1; i=$((i+1)); done; " +
      'echo ping | nc -w 2 127.0.0.1 7777';
    const r = await run(script);
    assert.equal(r.code, 0, r.stderr);
    const [link, answer] = r.stdout.trim().split('\n');
    assert.match(link!, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    assert.equal(answer, 'pong');
    // In a user namespace too (the namespace's root owns the new network namespace).
    const userns = await run('ip link show lo | head -1', (b) => {
      b.spec.linux!.namespaces!.push({ type: 'user' });
      b.spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      b.spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    assert.equal(userns.code, 0, userns.stderr);
    assert.match(userns.stdout, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  });

  test('rootfsPropagation shared/rshared: the container starts (pivot_root and --no-pivot) and its / is shared', async () => {
    const rootLine = "grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo";
    for (const prop of ['shared', 'rshared'] as const) {
      for (const noPivot of [false, true]) {
        bundle.spec = JSON.parse(freshSpec);
        bundle.spec.process!.terminal = false;
        bundle.spec.process!.args = shArgs(`${rootLine}; grep -c shared: /proc/self/mountinfo`);
        bundle.spec.linux!.rootfsPropagation = prop;
        bundle.write();
        const r = await cli(env.root, ['run', ...(noPivot ? ['--no-pivot'] : []), '--bundle', bundle.dir, `iso-${n++}`]);
        assert.equal(r.code, 0, `${prop}${noPivot ? ' --no-pivot' : ''}: ${r.stderr}`);
        const [root, count] = r.stdout.trim().split('\n');
        assert.match(root!, / shared:\d+ /, `${prop}: / is shared`);
        // rshared makes every mount shared, shared only "/".
        if (prop === 'rshared') assert.ok(Number(count) > 5, r.stdout);
        else assert.equal(count, '1', r.stdout);
      }
    }
  });

  test('rootfsPropagation rshared with the bundle on a shared host mount: the rootfs bind stays out of the host', async () => {
    const parent = join(env.tmp, 'shared-parent');
    mkdirSync(parent);
    execFileSync('mount', ['-t', 'tmpfs', 'berth-shared-parent', parent]);
    try {
      execFileSync('mount', ['--make-shared', parent]);
      const b = await makeBundle(parent, 'b');
      b.spec.process!.args = ['sleep', '100'];
      b.spec.linux!.rootfsPropagation = 'rshared';
      b.write();
      const id = `iso-${n++}`;
      const r = await cli(env.root, ['run', '-d', '--bundle', b.dir, id]);
      try {
        assert.equal(r.code, 0, r.stderr);
        const hostPoints = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p?.startsWith(parent));
        assert.deepEqual(hostPoints, [parent], 'no mount of the container propagated to the host');
        // The parent mount is made private in the container only: still shared here.
        assert.match(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === parent)!, / shared:\d+ /);
      } finally {
        await cli(env.root, ['delete', '--force', id]);
      }
      // private (not recursive) leaves the shared parent as it is on the host: made private too.
      b.spec.process!.args = ['true'];
      b.spec.linux!.rootfsPropagation = 'private';
      b.write();
      const p = await cli(env.root, ['run', '--bundle', b.dir, `iso-${n++}`]);
      assert.equal(p.code, 0, p.stderr);
    } finally {
      execFileSync('umount', ['-l', parent]);
    }
  });

  test('without a /dev mount the default devices and /dev symlinks are made in the rootfs /dev (runc: unless /dev is a bind)', async () => {
    const devDir = join(bundle.rootfs, 'dev');
    const r = await run(
      'echo x > /dev/null && echo null-ok; for d in null zero full random urandom tty; do stat -c "%n %F %t:%T %a" /dev/$d; done; ' +
        'for l in fd stdin stdout stderr ptmx; do echo "$l -> $(readlink /dev/$l)"; done; head -c 3 /dev/zero | wc -c',
      (b) => {
        b.spec.mounts = b.spec.mounts!.filter((m) => !m.destination.startsWith('/dev'));
      },
    );
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        'null-ok\n/dev/null character special file 1:3 666\n/dev/zero character special file 1:5 666\n/dev/full character special file 1:7 666\n' +
          '/dev/random character special file 1:8 666\n/dev/urandom character special file 1:9 666\n/dev/tty character special file 5:0 666\n' +
          'fd -> /proc/self/fd\nstdin -> /proc/self/fd/0\nstdout -> /proc/self/fd/1\nstderr -> /proc/self/fd/2\nptmx -> pts/ptmx\n3\n',
      );
      // As with runc, the nodes stay in the image's /dev: a device, not a file the write created.
      assert.ok(statSync(join(devDir, 'null')).isCharacterDevice());
    } finally {
      for (const name of readdirSync(devDir)) execFileSync('rm', ['-rf', join(devDir, name)]);
    }
    // /dev bound from the host: nothing is made in it.
    const hostDev = join(env.tmp, 'hostdev');
    mkdirSync(hostDev, { recursive: true });
    const bound = await run('ls -A /dev | wc -l', (b) => {
      b.spec.mounts = b.spec.mounts!.filter((m) => !m.destination.startsWith('/dev'));
      b.spec.mounts.push({ destination: '/dev', type: 'bind', source: hostDev, options: ['rbind'] });
    });
    assert.equal(bound.code, 0, bound.stderr);
    assert.equal(bound.stdout, '0\n');
    assert.deepEqual(readdirSync(hostDev), []);
  });

  test("mounts inside /proc that runc allows still work: lxcfs-style binds on the allow-list, a tmpfs, the host's procfs on /proc", async () => {
    const uptime = join(env.tmp, 'fake-uptime');
    writeFileSync(uptime, '4242.00 1.00\n');
    const r = await run('cat /proc/uptime; grep -c " /proc/sys/kernel " /proc/self/mountinfo', (b) => {
      b.spec.mounts!.push(
        { destination: '/proc/uptime', type: 'bind', source: uptime, options: ['bind', 'ro'] },
        { destination: '/proc/sys/kernel', type: 'tmpfs', source: 'tmpfs' },
      );
      b.spec.linux!.readonlyPaths = [];
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '4242.00 1.00\n1\n');
    const hostProc = await run('test -e /proc/1/status && echo has-proc', (b) => {
      b.spec.mounts![0] = { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] };
      b.spec.linux!.maskedPaths = [];
      b.spec.linux!.readonlyPaths = [];
    });
    assert.equal(hostProc.code, 0, hostProc.stderr);
    assert.equal(hostProc.stdout, 'has-proc\n');
  });

  test('joining an existing namespace by path shares it; --no-pivot still isolates the root', async () => {
    bundle.spec = JSON.parse(freshSpec);
    bundle.spec.process!.terminal = false;
    bundle.spec.process!.args = ['sleep', '1000'];
    bundle.write();
    const holder = `iso-${n++}`;
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, holder])).code, 0);
    try {
      const pid = JSON.parse((await cli(env.root, ['state', holder])).stdout).pid as number;
      const netns = readlinkSync(`/proc/${pid}/ns/net`);
      const r = await run('readlink /proc/self/ns/net; ls /', (b) => {
        b.spec.linux!.namespaces = b.spec.linux!.namespaces!.map((ns) => (ns.type === 'network' ? { type: 'network', path: `/proc/${pid}/ns/net` } : ns));
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n')[0], netns);
      assert.notEqual(netns, readlinkSync('/proc/self/ns/net'));
    } finally {
      await cli(env.root, ['delete', '--force', holder]);
    }
    const noPivot = await (async () => {
      bundle.spec = JSON.parse(freshSpec);
      bundle.spec.process!.terminal = false;
      bundle.spec.process!.args = ['sh', '-c', 'ls /; cat /proc/self/mountinfo | head -1'];
      bundle.write();
      return cli(env.root, ['run', '--no-pivot', '--bundle', bundle.dir, `iso-${n++}`]);
    })();
    assert.equal(noPivot.code, 0, noPivot.stderr);
    assert.match(noPivot.stdout, /^bin\ndev\n/);
  });

  test('a time namespace applies timeOffsets (boottime)', async () => {
    const r = await run('cut -d. -f1 /proc/uptime', (b) => {
      b.spec.linux!.namespaces!.push({ type: 'time' });
      b.spec.linux!.timeOffsets = { boottime: { secs: 864000, nanosecs: 0 } };
    });
    assert.equal(r.code, 0, r.stderr);
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split('.')[0]);
    const inside = Number(r.stdout.trim());
    assert.ok(inside >= hostUptime + 864000 - 5 && inside <= hostUptime + 864000 + 60, `uptime ${inside} vs host ${hostUptime}`);
  });

  test('nothing of the containers is left: no process rooted in the bundle, no state', async () => {
    assert.deepEqual(processesUnder(bundle.rootfs), []);
    const list = await cli(env.root, ['list', '--format', 'json']);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });
});
