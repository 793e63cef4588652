/**
 * The runtime lifecycle through the berth-runtime CLI: create leaves the
 * process waiting, start releases it, state/list/ps report it, kill signals
 * it, delete removes every trace; exec joins it; hooks run with the state.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { spawn } from 'node:child_process';
import { buildNative, CLI, NODE, cli, makeBundle, makeRuntimeRoot, processesUnder, shArgs } from './harness.ts';
import type { Bundle } from './harness.ts';

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;
let out: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (cond()) return;
  assert.fail(`timed out waiting for ${what}`);
}

function configure(script: string, patch?: (b: Bundle) => void): void {
  bundle.spec = defaultSpec();
  bundle.spec.process!.terminal = false;
  bundle.spec.process!.args = shArgs(script);
  bundle.spec.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
  patch?.(bundle);
  bundle.write();
}

const hostMountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));

describe('berth-runtime lifecycle', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
    out = join(env.tmp, 'out');
    mkdirSync(out);
    mkdirSync(join(bundle.rootfs, 'out'));
  });
  after(async () => {
    await env.cleanup();
  });

  test('create waits, start releases, state/list/ps report, kill stops, delete removes everything', async () => {
    configure('touch /out/started; exec sleep 1000');
    const pidFile = join(env.tmp, 'c1.pid');
    const c = await cli(env.root, ['create', '--bundle', bundle.dir, '--pid-file', pidFile, 'c1']);
    assert.equal(c.code, 0, c.stderr);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 1 && existsSync(`/proc/${pid}`));

    let st = JSON.parse((await cli(env.root, ['state', 'c1'])).stdout);
    assert.deepEqual(
      { id: st.id, pid: st.pid, status: st.status, bundle: st.bundle, rootfs: st.rootfs, ociVersion: st.ociVersion },
      { id: 'c1', pid, status: 'created', bundle: bundle.dir, rootfs: bundle.rootfs, ociVersion: '1.2.0' },
    );
    assert.match(st.created, /^\d{4}-\d\d-\d\dT/);
    await sleep(100);
    assert.equal(existsSync(join(out, 'started')), false, 'the process must not run before start');

    const s = await cli(env.root, ['start', 'c1']);
    assert.equal(s.code, 0, s.stderr);
    await waitFor(() => existsSync(join(out, 'started')), 'the process to run');
    st = JSON.parse((await cli(env.root, ['state', 'c1'])).stdout);
    assert.equal(st.status, 'running');
    assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\u00001000\u0000');

    const again = await cli(env.root, ['start', 'c1']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /running, not created/);

    const list = JSON.parse((await cli(env.root, ['list', '--format', 'json'])).stdout);
    assert.deepEqual(list.map((x: { id: string; status: string }) => [x.id, x.status]), [['c1', 'running']]);
    assert.deepEqual(JSON.parse((await cli(env.root, ['ps', '--format', 'json', 'c1'])).stdout), [pid]);

    const busy = await cli(env.root, ['delete', 'c1']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /running container c1/);

    assert.equal((await cli(env.root, ['kill', 'c1', 'KILL'])).code, 0);
    await waitFor(() => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') S');
      } catch {
        return true;
      }
    }, 'the process to die');
    st = JSON.parse((await cli(env.root, ['state', 'c1'])).stdout);
    assert.equal(st.status, 'stopped');
    const d = await cli(env.root, ['delete', 'c1']);
    assert.equal(d.code, 0, d.stderr);
    const gone = await cli(env.root, ['state', 'c1']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /container c1 does not exist/);
    assert.deepEqual(readdirSync(env.root), []);
    assert.deepEqual(processesUnder(bundle.rootfs), []);
    assert.deepEqual(hostMountsUnder(bundle.rootfs), []);
  });

  test('delete --force kills a running container and cleans up', async () => {
    configure('exec sleep 1000');
    assert.equal((await cli(env.root, ['run', '--detach', '--bundle', bundle.dir, 'c2'])).code, 0);
    const pid = JSON.parse((await cli(env.root, ['state', 'c2'])).stdout).pid;
    assert.ok(existsSync(`/proc/${pid}`));
    const d = await cli(env.root, ['delete', '--force', 'c2']);
    assert.equal(d.code, 0, d.stderr);
    await waitFor(() => processesUnder(bundle.rootfs).length === 0, 'the container to be gone');
    assert.deepEqual(readdirSync(env.root), []);
  });

  test('exec joins the running container and returns its exit status', async () => {
    configure('exec sleep 1000');
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, 'c3'])).code, 0);
    try {
      const r = await cli(env.root, ['exec', '--env', 'X=y', '--cwd', '/tmp', 'c3', 'sh', '-c', 'echo $$ $X $(pwd) $(hostname); cat /proc/1/cmdline; exit 7']);
      assert.equal(r.code, 7, r.stderr);
      const [line, cmdline] = r.stdout.split('\n');
      const [pidInNs, x, cwd, host] = line!.split(' ');
      assert.ok(Number(pidInNs) > 1);
      assert.deepEqual([x, cwd, host], ['y', '/tmp', 'berth']);
      assert.equal(cmdline, 'sleep\u00001000\u0000');

      const pidFile = join(env.tmp, 'exec.pid');
      const d = await cli(env.root, ['exec', '--detach', '--pid-file', pidFile, 'c3', 'sleep', '500']);
      assert.equal(d.code, 0, d.stderr);
      const execPid = Number(readFileSync(pidFile, 'utf8'));
      assert.equal(readFileSync(`/proc/${execPid}/cmdline`, 'utf8'), 'sleep\u0000500\u0000');
      assert.equal(readFileSync(`/proc/${execPid}/ns/pid`.replace('/ns/pid', '/status'), 'utf8').match(/NSpid:\s+\d+\s+(\d+)/)?.[1] !== undefined, true);
      const ps = JSON.parse((await cli(env.root, ['ps', '--format', 'json', 'c3'])).stdout);
      assert.ok(ps.includes(execPid), `ps lists the exec'd process: ${ps}`);

      const missing = await cli(env.root, ['exec', 'c3', 'no-such-program']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /no-such-program.*not found/);
    } finally {
      await cli(env.root, ['delete', '--force', 'c3']);
    }
  });

  test('pause freezes, resume thaws, update changes limits of the live container', async () => {
    configure('exec sleep 1000');
    const id = 'c6';
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, id])).code, 0);
    try {
      const pid = JSON.parse((await cli(env.root, ['state', id])).stdout).pid;
      assert.equal((await cli(env.root, ['pause', id])).code, 0);
      assert.equal(JSON.parse((await cli(env.root, ['state', id])).stdout).status, 'paused');
      assert.equal(readFileSync(`/sys/fs/cgroup/freezer/berth/${id}/freezer.state`, 'utf8').trim(), 'FROZEN');
      assert.equal((await cli(env.root, ['resume', id])).code, 0);
      assert.equal(JSON.parse((await cli(env.root, ['state', id])).stdout).status, 'running');
      const notPaused = await cli(env.root, ['resume', id]);
      assert.notEqual(notPaused.code, 0);
      assert.match(notPaused.stderr, /not paused/);
      const u = await cli(env.root, ['update', '--resources', '-', id], { input: JSON.stringify({ memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 42 } }) });
      assert.equal(u.code, 0, u.stderr);
      assert.equal(readFileSync(`/sys/fs/cgroup/memory/berth/${id}/memory.limit_in_bytes`, 'utf8').trim(), String(64 * 1024 * 1024));
      assert.equal(readFileSync(`/sys/fs/cgroup/pids/berth/${id}/pids.max`, 'utf8').trim(), '42');
      assert.ok(readFileSync(`/sys/fs/cgroup/memory/berth/${id}/cgroup.procs`, 'utf8').split('\n').includes(String(pid)));
    } finally {
      await cli(env.root, ['delete', '--force', id]);
    }
    assert.equal(existsSync(`/sys/fs/cgroup/memory/berth/${id}`), false, 'delete removed the cgroup');
  });

  test('the container process and an exec are in every cgroup hierarchy, and nothing of the runtime is', async () => {
    configure('exec sleep 1000');
    const id = 'c6b';
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, id])).code, 0);
    try {
      const pid = JSON.parse((await cli(env.root, ['state', id])).stdout).pid as number;
      const procsFiles = JSON.parse(readFileSync(join(env.root, id, 'state.json'), 'utf8')).cgroupProcs as string[];
      // v1 hierarchies (the joiner wrote "0" to tasks) and, on this hybrid
      // host, the cgroup2 mount (the joiner was cloned into it).
      assert.ok(procsFiles.length >= 2, procsFiles.join());
      const members = () => procsFiles.map((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number));
      for (const [i, m] of members().entries()) assert.deepEqual(m, [pid], procsFiles[i]);
      const ex = await cli(env.root, ['exec', '--detach', id, 'sleep', '1000']);
      assert.equal(ex.code, 0, ex.stderr);
      for (const [i, m] of members().entries()) {
        assert.equal(m.length, 2, `${procsFiles[i]}: the container process and the exec'd one`);
        assert.ok(m.includes(pid));
      }
    } finally {
      await cli(env.root, ['delete', '--force', id]);
    }
  });

  test('signals to an attached `run` reach the container process', async () => {
    configure('trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done');
    const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI, '--root', env.root, 'run', '--bundle', bundle.dir, 'c7'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    await waitFor(() => stdout.includes('ready'), 'the container to start');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.equal(code, 7);
    assert.match(stdout, /got-term/);
  });

  test('all six hooks run in order with the container state on stdin', async () => {
    const log = join(out, 'hooks.log');
    const hook = join(env.tmp, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$1 $(cat)" >> ${log}\n`);
    chmodSync(hook, 0o755);
    // startContainer runs inside the container: its path is resolved there, /out is the same dir.
    writeFileSync(join(bundle.rootfs, 'bin/start-hook'), '#!/bin/sh\necho "startContainer $(cat) in=$(hostname)" >> /out/hooks.log\n');
    chmodSync(join(bundle.rootfs, 'bin/start-hook'), 0o755);
    configure('echo program >> /out/hooks.log', (b) => {
      b.spec.root!.readonly = false;
      b.spec.hooks = {};
      for (const name of ['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop'] as const) b.spec.hooks[name] = [{ path: hook, args: ['hook.sh', name], timeout: 5 }];
      b.spec.hooks.startContainer = [{ path: '/bin/start-hook', env: ['PATH=/bin'] }];
    });
    const r = await cli(env.root, ['run', '--bundle', bundle.dir, 'c4']);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const order = lines.map((l) => l.split(' ')[0]);
    // poststart runs once start released the process, concurrently with it (as in runc); the rest is ordered.
    assert.deepEqual(order.filter((x) => x !== 'poststart'), ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'program', 'poststop']);
    assert.ok(order.indexOf('poststart') > order.indexOf('createContainer'));
    assert.match(lines.find((l) => l.startsWith('startContainer'))!, / in=berth$/, 'startContainer runs in the container (its uts namespace)');
    const state = JSON.parse(lines[0]!.slice(lines[0]!.indexOf(' ') + 1));
    assert.equal(state.id, 'c4');
    assert.equal(state.status, 'creating');
    assert.ok(state.pid > 1);
    assert.equal(state.bundle, bundle.dir);
    const post = lines.find((l) => l.startsWith('poststop'))!;
    assert.equal(JSON.parse(post.slice(post.indexOf(' ') + 1)).status, 'stopped');
  });

  test('a failing or timed-out prestart hook fails create and leaves nothing', async () => {
    const hook = join(env.tmp, 'slow.sh');
    writeFileSync(hook, '#!/bin/sh\nsleep 5\n');
    chmodSync(hook, 0o755);
    configure('exit 0', (b) => {
      b.spec.hooks = { prestart: [{ path: hook, timeout: 1 }] };
    });
    const r = await cli(env.root, ['create', '--bundle', bundle.dir, 'c5']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hooks\.prestart\[0\].*timed out after 1s/);
    assert.deepEqual(readdirSync(env.root), []);
    await waitFor(() => processesUnder(bundle.rootfs).length === 0, 'the half-made container to be gone');
  });

  test('a createContainer hook that times out (run by the launcher) fails create and leaves nothing', async () => {
    const hook = join(env.tmp, 'slow-in-container.sh');
    writeFileSync(hook, '#!/bin/sh\nsleep 5\n');
    chmodSync(hook, 0o755);
    configure('exit 0', (b) => {
      b.spec.hooks = { createContainer: [{ path: hook, timeout: 1 }] };
    });
    const r = await cli(env.root, ['create', '--bundle', bundle.dir, 'c8']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hooks\.createContainer\[0\] .*slow-in-container\.sh: timed out after 1s/);
    assert.deepEqual(readdirSync(env.root), []);
    await waitFor(() => processesUnder(bundle.rootfs).length === 0, 'the half-made container to be gone');
  });

  test('runc CLI details: exec failures exit 255, exec --env needs =, --help exits 0, list shows the owner', async () => {
    configure('exec sleep 1000');
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, 'cli1'])).code, 0);
    try {
      const missing = await cli(env.root, ['exec', 'no-such-container', 'true']);
      assert.equal(missing.code, 255);
      assert.match(missing.stderr, /container no-such-container does not exist/);
      const notFound = await cli(env.root, ['exec', 'cli1', '/no/such/program']);
      assert.equal(notFound.code, 255);
      const notExec = await cli(env.root, ['exec', 'cli1', '/etc/passwd']);
      assert.equal(notExec.code, 255);
      assert.match(notExec.stderr, /exec: process\.args\[0\]: exec "\/etc\/passwd": permission denied/);
      const env1 = await cli(env.root, ['exec', '--env', 'A', 'cli1', 'true']);
      assert.equal(env1.code, 255);
      assert.match(env1.stderr, /invalid environment variable: "A"/);
      // The process's own status still comes through.
      assert.equal((await cli(env.root, ['exec', 'cli1', 'sh', '-c', 'exit 3'])).code, 3);
      assert.equal((await cli(env.root, ['exec', '--env', 'A=1', 'cli1', 'sh', '-c', 'test "$A" = 1'])).code, 0);
      // -h after the id belongs to the command.
      assert.match((await cli(env.root, ['exec', 'cli1', 'sh', '-h'])).stderr, /illegal option -h/);
      const list = JSON.parse((await cli(env.root, ['list', '-f', 'json'])).stdout) as { id: string; owner: string }[];
      assert.equal(list.find((c) => c.id === 'cli1')?.owner, 'root');
    } finally {
      await cli(env.root, ['delete', '--force', 'cli1']);
    }
    for (const args of [['--help'], ['-h'], [], ['create', '--help'], ['run', '-h'], ['exec', '--help'], ['delete', '--help']]) {
      const h = await cli(env.root, args);
      assert.equal(h.code, 0, `${args.join(' ')}: ${h.stderr}`);
      assert.match(h.stdout, /^usage: berth-runtime/);
    }
  });

  test('spec writes runc-like default configs; features reports support', async () => {
    const dir = join(env.tmp, 'specdir');
    mkdirSync(dir);
    assert.equal((await cli(env.root, ['spec', '--bundle', dir])).code, 0);
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(spec.process.args, ['sh']);
    assert.equal(spec.root.path, 'rootfs');
    const exists = await cli(env.root, ['spec', '--bundle', dir]);
    assert.notEqual(exists.code, 0);
    const rootlessDir = join(env.tmp, 'rootless');
    mkdirSync(rootlessDir);
    assert.equal((await cli(env.root, ['spec', '--rootless', '--bundle', rootlessDir])).code, 0);
    const rootless = JSON.parse(readFileSync(join(rootlessDir, 'config.json'), 'utf8'));
    assert.ok(rootless.linux.namespaces.some((n: { type: string }) => n.type === 'user'));
    assert.equal(rootless.linux.uidMappings[0].size, 1);
    const f = JSON.parse((await cli(env.root, ['features'])).stdout);
    assert.ok(f.linux.namespaces.includes('user'));
    assert.ok(f.linux.capabilities.includes('CAP_NET_RAW'));
  });
});
