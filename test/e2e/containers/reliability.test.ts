/**
 * Reliability: kill -9 of berthd while a container runs (the container and
 * its monitor live on, a new berthd finds it running, its log goes on, stop
 * works with the right exit code), and 50 containers created, started,
 * stopped and removed concurrently through the API with nothing lost and
 * nothing left behind (mounts, cgroups, monitors, sockets).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { EngineClient } from '../../../src/client/client.ts';
import { DOCKER, mountsUnder, runCommand, setup, type Env } from './helpers.ts';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs whose command line mentions `text` (our monitors carry the data root in theirs). */
/**
 * Processes whose command line mentions `text` or that hold a file under it
 * open: monitors started ahead of time get their arguments later, so their
 * command line is bare, but each holds its container's log file.
 */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) {
        out.push(Number(entry));
        continue;
      }
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        let target = '';
        try {
          target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target.startsWith(text)) {
          out.push(Number(entry));
          break;
        }
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('berthd restarts and concurrency', () => {
  test('kill -9 berthd while a container runs: it keeps running, logs continue, stop gives its exit code', async () => {
    const dir = await makeTempDir('berth-e2e-ctr-kill9-');
    const dataRoot = join(dir, 'root');
    const socketPath = join(dir, 'berth.sock');
    const daemons: TestDaemon[] = [];
    const docker = (...args: string[]) => runCommand(DOCKER, args, { env: { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config') } });
    try {
      daemons.push(await startDaemon({ dataRoot, socketPath }));
      await makeBusyboxTar(dir, join(dir, 'busybox.tar'));
      assert.equal((await docker('import', '-c', 'CMD ["sh"]', join(dir, 'busybox.tar'), 'busybox:latest')).code, 0);
      const run = await docker('run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'trap "echo bye; exit 42" TERM; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done');
      assert.equal(run.code, 0, run.stderr);
      await new Promise((r) => setTimeout(r, 600));
      const pid = Number((await docker('inspect', '-f', '{{.State.Pid}}', 'survivor')).stdout.trim());
      assert.ok(pid > 0 && processAlive(pid));

      process.kill(daemons[0]!.pid, 'SIGKILL');
      await new Promise<void>((r) => daemons[0]!.process.once('exit', () => r()));
      const logLinesBefore = readFileSync(join(dataRoot, 'containers', run.stdout.trim(), `${run.stdout.trim()}-json.log`), 'utf8').split('\n').length;
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(processAlive(pid), 'the container outlives berthd');

      daemons.push(await startDaemon({ dataRoot, socketPath }));
      const ps = await docker('ps', '--format', '{{.Names}} {{.State}}');
      assert.equal(ps.stdout, 'survivor running\n');
      assert.equal((await docker('inspect', '-f', '{{.State.Pid}}', 'survivor')).stdout.trim(), String(pid));
      const logs = await docker('logs', 'survivor');
      const ticks = logs.stdout.split('\n').filter((l) => l.startsWith('tick'));
      assert.ok(ticks.length > logLinesBefore, `logs went on while berthd was down (${ticks.length} > ${logLinesBefore})`);
      assert.deepEqual(ticks, ticks.map((_, i) => `tick${i + 1}`), 'no line lost or repeated');
      const stop = await docker('stop', '-t', '5', 'survivor');
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal((await docker('inspect', '-f', '{{.State.ExitCode}} {{.State.Status}}', 'survivor')).stdout, '42 exited\n');
      assert.match((await docker('logs', '--tail', '1', 'survivor')).stdout, /^bye\n$/);
      assert.ok(!processAlive(pid));
      assert.equal((await docker('rm', 'survivor')).code, 0);
    } finally {
      for (const d of daemons) {
        if (d.process.exitCode === null && d.process.signalCode === null) {
          await runCommand(DOCKER, ['-H', d.host, 'rm', '-f', 'survivor']).catch(() => {});
        }
        await d.stop();
      }
      await removeTempDir(dir);
    }
  });

  test('restart policies: on-failure:N retries N times, always restarts, and across a berthd restart always comes back even after a manual stop while unless-stopped stays down', async () => {
    const dir = await makeTempDir('berth-e2e-ctr-restart-');
    const dataRoot = join(dir, 'root');
    const socketPath = join(dir, 'berth.sock');
    const daemons: TestDaemon[] = [];
    const docker = (...args: string[]) => runCommand(DOCKER, args, { env: { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config') } });
    const state = async (name: string) => (await docker('inspect', '-f', '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}', name)).stdout.trim();
    const waitFor = async (name: string, want: RegExp) => {
      let last = '';
      for (let i = 0; i < 100; i++) {
        last = await state(name);
        if (want.test(last)) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`${name}: ${last} never matched ${want}`);
    };
    try {
      daemons.push(await startDaemon({ dataRoot, socketPath }));
      await makeBusyboxTar(dir, join(dir, 'busybox.tar'));
      assert.equal((await docker('import', '-c', 'CMD ["sh"]', join(dir, 'busybox.tar'), 'busybox:latest')).code, 0);
      assert.equal((await docker('run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3')).code, 0);
      await waitFor('flaky', /^exited 2 3$/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await state('flaky'), 'exited 2 3', 'no third retry');
      assert.equal((await docker('run', '-d', '--name', 'ever', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.2')).code, 0);
      await waitFor('ever', /^running [1-9]\d* 0$/);
      assert.equal((await docker('stop', '-t', '0', 'ever')).code, 0);
      assert.equal((await docker('run', '-d', '--name', 'mostly', '--restart', 'unless-stopped', 'busybox', 'sleep', '300')).code, 0);
      assert.equal((await docker('stop', '-t', '0', 'mostly')).code, 0);
      assert.match(await state('ever'), /^exited /, 'a manual stop holds while berthd runs');

      await daemons[0]!.stop();
      daemons.push(await startDaemon({ dataRoot, socketPath }));
      await waitFor('ever', /^running /);
      assert.match(await state('mostly'), /^exited /, 'unless-stopped stays stopped');
      assert.match(await state('flaky'), /^exited 2 /, 'on-failure used up its retries');
    } finally {
      const last = daemons[daemons.length - 1];
      if (last && last.process.exitCode === null && last.process.signalCode === null) {
        for (const n of ['flaky', 'ever', 'mostly']) await docker('rm', '-f', n).catch(() => {});
      }
      for (const d of daemons) await d.stop();
      await removeTempDir(dir);
    }
  });

  let env: Env | undefined;
  after(async () => {
    await env?.stop();
  });

  test('50 containers created, started, stopped and removed concurrently: none lost, nothing left behind', async () => {
    env = await setup('berth-e2e-ctr-fifty-');
    const client = new EngineClient(env.d.socketPath);
    const N = 50;
    const ids = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const { Id } = await client.json<{ Id: string }>('POST', '/containers/create', {
          query: { name: `many-${i}` },
          body: { Image: 'busybox', Cmd: ['sh', '-c', `echo n${i}; exec sleep 300`], Labels: { batch: 'fifty' }, HostConfig: { NetworkMode: 'none' } },
        });
        (await client.stream('POST', `/containers/${Id}/start`)).resume();
        return Id;
      }),
    );
    assert.equal(new Set(ids).size, N);
    const running = await client.json<Array<{ Id: string; State: string }>>('GET', '/containers/json', {
      query: { filters: JSON.stringify({ label: ['batch=fifty'] }) },
    });
    assert.equal(running.length, N);
    assert.ok(running.every((c) => c.State === 'running'));
    const monitorsWhileRunning = processesMentioning(env.d.dataRoot).length;
    assert.ok(monitorsWhileRunning >= N, `a monitor per container (${monitorsWhileRunning})`);

    await Promise.all(
      ids.map(async (id) => {
        (await client.stream('POST', `/containers/${id}/stop`, { query: { t: 0 } })).resume();
        const code = await client.json<{ StatusCode: number }>('POST', `/containers/${id}/wait`);
        assert.equal(code.StatusCode, 137);
        (await client.stream('DELETE', `/containers/${id}`)).resume();
      }),
    );
    const left = await client.json<unknown[]>('GET', '/containers/json', { query: { all: 1 } });
    assert.deepEqual(left, []);
    assert.deepEqual(mountsUnder(env.d.dataRoot), [], 'no mounts left under the data root');
    for (const id of ids) {
      for (const controller of readdirSync('/sys/fs/cgroup')) {
        assert.ok(!existsSync(join('/sys/fs/cgroup', controller, 'berth', id)), `cgroup ${controller}/berth/${id} removed`);
      }
      assert.ok(!existsSync(join(env.d.dataRoot, 'containers', id)));
    }
    const socketRoot = join('/run/berth/m', createHash('sha256').update(env.d.dataRoot).digest('hex').slice(0, 12));
    const sockets = existsSync(socketRoot) ? readdirSync(socketRoot) : [];
    assert.deepEqual(sockets.filter((s) => ids.includes(s)), [], 'no monitor sockets left');
    // Monitors exit a moment after their container.
    let monitors = processesMentioning(join(env.d.dataRoot, 'containers'));
    for (let i = 0; i < 50 && monitors.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      monitors = processesMentioning(join(env.d.dataRoot, 'containers'));
    }
    assert.deepEqual(monitors, [], 'no monitors left');
  });
});
