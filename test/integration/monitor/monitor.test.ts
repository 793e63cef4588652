import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { spawnMonitor, watchExit, attach, closeStdin, readExitStatus, MonitorPool } from '../../../src/container/monitor.ts';
import type { Socket } from 'node:net';

const BB = '/bin/busybox';
const dirs: string[] = [];
async function dir() {
  const d = await makeTempDir('berth-monitor-');
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

async function logLines(path: string) {
  const text = await readFile(path, 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
}

/** Read Docker-multiplexed frames from a socket until it closes. */
function collectFrames(sock: import('node:net').Socket): Promise<Array<{ stream: number; data: string }>> {
  return new Promise((res) => {
    let buf = Buffer.alloc(0);
    const frames: Array<{ stream: number; data: string }> = [];
    sock.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      while (buf.length >= 8) {
        const len = buf.readUInt32BE(4);
        if (buf.length < 8 + len) break;
        frames.push({ stream: buf[0]!, data: buf.subarray(8, 8 + len).toString() });
        buf = buf.subarray(8 + len);
      }
    });
    sock.on('close', () => res(frames));
  });
}

// A stand-in for berth-launcher: reads its "plan" from fd 3, starts the
// payload in the background, reports its pid on fd 3 and exits. The payload
// sleeps first so the stand-in exits before it: it is then reparented to the
// monitor, as the real container process is.
const standIn = (payload: string) => [BB, 'sh', '-c', `read plan <&3; (sleep 0.2; ${payload}) & echo "pid $!" >&3; exit 0`];

describe('berth-monitor', () => {
  test('logs stdout and stderr in json-file format and records the exit code', async () => {
    const d = await dir();
    const m = await spawnMonitor({
      dir: d,
      log: { path: join(d, 'log.json'), maxSize: 1 << 20, maxFiles: 2 },
      command: [BB, 'sh', '-c', 'echo hello; echo oops >&2; printf tail; exit 3'],
    });
    const started = await m.start();
    assert.ok(started.containerPid > 0);
    const status = await watchExit(d);
    assert.equal(status.exitCode, 3);
    assert.equal(status.signal, 0);
    const lines = await logLines(join(d, 'log.json'));
    assert.deepEqual(
      lines.map((l) => [l.stream, l.log]),
      [
        ['stdout', 'hello\n'],
        ['stderr', 'oops\n'],
        ['stdout', 'tail'],
      ],
    );
    assert.match(lines[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // Sockets are gone once the container has exited.
    const left = await readdir(d);
    assert.ok(!left.includes('attach.sock') && !left.includes('control.sock'), left.join(','));
  });

  test('a signal-killed process reports 128+n', async () => {
    const d = await dir();
    const m = await spawnMonitor({ dir: d, command: [BB, 'sh', '-c', 'kill -9 $$'] });
    await m.start();
    const status = await watchExit(d);
    assert.equal(status.signal, 9);
    assert.equal(status.exitCode, 137);
  });

  test('an attach client connected before start sees all output; stdin flows in', async () => {
    const d = await dir();
    const m = await spawnMonitor({
      dir: d,
      stdin: true,
      log: { path: join(d, 'log.json'), maxSize: 1 << 20, maxFiles: 1 },
      command: [BB, 'sh', '-c', 'echo first; read line; echo "got $line"; echo bye >&2'],
    });
    const sock = await attach(d);
    const frames = collectFrames(sock);
    await m.start();
    sock.write('ping\n');
    const got = await frames;
    const out = got.filter((f) => f.stream === 1).map((f) => f.data).join('');
    const err = got.filter((f) => f.stream === 2).map((f) => f.data).join('');
    assert.equal(out, 'first\ngot ping\n');
    assert.equal(err, 'bye\n');
    assert.equal((await watchExit(d)).exitCode, 0);
  });

  test('close-stdin gives the process EOF', async () => {
    const d = await dir();
    const m = await spawnMonitor({ dir: d, stdin: true, command: [BB, 'sh', '-c', 'cat >/dev/null; exit 7'] });
    await m.start();
    await closeStdin(d);
    assert.equal((await watchExit(d)).exitCode, 7);
  });

  test('logs rotate at max-size and keep max-files', async () => {
    const d = await dir();
    const log = join(d, 'log.json');
    const m = await spawnMonitor({
      dir: d,
      log: { path: log, maxSize: 4096, maxFiles: 3 },
      command: [BB, 'sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo "line $i padding padding padding"; i=$((i+1)); done'],
    });
    await m.start();
    await watchExit(d);
    const files = (await readdir(d)).filter((f) => f.startsWith('log.json')).sort();
    assert.deepEqual(files, ['log.json', 'log.json.1', 'log.json.2']);
    for (const f of files) assert.ok((await stat(join(d, f))).size <= 4096, `${f} within max-size`);
    const last = await logLines(log);
    assert.equal(last.at(-1)!.log, 'line 399 padding padding padding\n');
  });

  test('a command that cannot be executed reports 127 and the monitor still records it', async () => {
    const d = await dir();
    const m = await spawnMonitor({ dir: d, command: ['/nonexistent/binary'] });
    await m.start();
    const status = await watchExit(d);
    assert.equal(status.exitCode, 127);
    assert.deepEqual(await readExitStatus(d), status);
  });

  test('the monitor outlives a watcher: a second watcher started later still sees the exit', async () => {
    const d = await dir();
    const m = await spawnMonitor({ dir: d, command: [BB, 'sleep', '0.3'] });
    await m.start();
    const early = watchExit(d);
    const late = watchExit(d);
    const [a, b] = await Promise.all([early, late]);
    assert.equal(a.exitCode, 0);
    assert.deepEqual(a, b);
  });

  test('a detached launcher: pid over the passed channel, the orphaned container is reaped by the monitor', async () => {
    const d = await dir();
    const m = await spawnMonitor({
      dir: d,
      launcherChannel: true,
      log: { path: join(d, 'log.json'), maxSize: 1 << 20, maxFiles: 1 },
      command: standIn('echo "payload $plan"; exit 5'),
    });
    const started = await startWithStandIn(m, 'P1');
    assert.ok(started.containerPid > 0);
    const status = await watchExit(d);
    assert.equal(status.exitCode, 5);
    const lines = await logLines(join(d, 'log.json'));
    assert.deepEqual(lines.map((l) => l.log), ['payload P1\n']);
  });

  /** Start a monitor whose command is standIn(): it reads its "plan", reports the payload's pid on the channel. */
  async function startWithStandIn(m: Awaited<ReturnType<typeof spawnMonitor>>, plan = 'go') {
    const channel = m.launcherChannel! as Socket;
    const pid = new Promise<number>((res, rej) => {
      let buf = '';
      channel.on('data', (b: Buffer) => {
        buf += b.toString();
        const mm = buf.match(/pid (\d+)\n/);
        if (mm) res(Number(mm[1]));
      });
      channel.on('close', () => rej(new Error('launcher closed without a pid')));
    });
    const started = m.start(pid);
    channel.write(`${plan}\n`);
    const s = await started;
    assert.equal(s.containerPid, await pid, 'the monitor reports the pid the launcher gave');
    return s;
  }
  const mountedAt = (target: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === target);

  test('a pooled monitor, started idle, takes its arguments over the channel; the pool refills and closes', async () => {
    const pool = new MonitorPool();
    pool.fill();
    const d = await dir();
    const m = await spawnMonitor({
      dir: d,
      launcherChannel: true,
      log: { path: join(d, 'log.json'), maxSize: 1 << 20, maxFiles: 1 },
      command: standIn('echo "from a pooled monitor: $plan"; exit 4'),
    }, pool);
    const pooledPid = m.monitorPid;
    await startWithStandIn(m);
    assert.equal((await watchExit(d)).exitCode, 4);
    assert.deepEqual((await logLines(join(d, 'log.json'))).map((l) => l.log), ['from a pooled monitor: go\n']);
    // The next start gets a fresh idle monitor (refilled in the background).
    await new Promise((r) => setTimeout(r, 200));
    const d2 = await dir();
    const m2 = await spawnMonitor({ dir: d2, launcherChannel: true, command: standIn('exit 6') }, pool);
    assert.notEqual(m2.monitorPid, pooledPid);
    await startWithStandIn(m2);
    assert.equal((await watchExit(d2)).exitCode, 6);
    await pool.close();
  });

  test('a killed idle monitor is replaced by a fresh one, not reported as a failed start', async () => {
    const pool = new MonitorPool();
    pool.fill();
    const idle = (pool as unknown as { idle: { child: import('node:child_process').ChildProcess; exited: Promise<void> } }).idle;
    idle.child.kill('SIGKILL');
    // (The idle monitor is unref'd: a timer keeps this test's event loop turning until its exit is seen.)
    while (idle.child.exitCode === null && idle.child.signalCode === null) await new Promise((r) => setTimeout(r, 10));
    const d = await dir();
    const m = await spawnMonitor({ dir: d, launcherChannel: true, command: standIn('exit 2') }, pool);
    await startWithStandIn(m);
    assert.equal((await watchExit(d)).exitCode, 2);
    await pool.close();
  });

  test('--mount: mounted before the monitor listens, unmounted before exit.json appears', async () => {
    const d = await dir();
    const target = join(d, 'rootfs');
    await mkdir(target);
    const m = await spawnMonitor({
      dir: d,
      launcherChannel: true,
      mounts: [{ target, fstype: 'tmpfs', source: 'tmpfs', flags: 0, data: 'size=1m,mode=700', cwd: '' }],
      command: standIn(`test -d ${target} && sleep 0.3; exit 0`),
    });
    assert.ok(mountedAt(target), 'mounted once the monitor listens');
    await writeFile(join(target, 'inside'), 'x');
    await startWithStandIn(m);
    const status = await watchExit(d);
    assert.equal(status.exitCode, 0);
    assert.equal(mountedAt(target), false, 'unmounted by the time the exit is known');
    assert.deepEqual(await readdir(target), [], 'the tmpfs content went with the mount');
  });

  test('--mount: a failing mount is a clear error and nothing stays mounted; an abandoned start unmounts', async () => {
    const d = await dir();
    const target = join(d, 'rootfs');
    await mkdir(target);
    await assert.rejects(
      spawnMonitor({ dir: d, launcherChannel: true, mounts: [{ target, fstype: 'no-such-fs', source: 'x', flags: 0, data: '', cwd: '' }], command: standIn('exit 0') }),
      /starting the container monitor: mount x on .*rootfs \(no-such-fs\): No such device/,
    );
    assert.equal(mountedAt(target), false);
    const m = await spawnMonitor({
      dir: d, launcherChannel: true,
      mounts: [{ target, fstype: 'tmpfs', source: 'tmpfs', flags: 0, data: 'size=1m', cwd: '' }],
      command: standIn('exit 0'),
    });
    assert.ok(mountedAt(target));
    await m.cancel();
    assert.equal(mountedAt(target), false, 'cancel() resolves once the monitor has unmounted and exited');
  });
});
