/**
 * Health checks as docker users meet them: the real docker CLI (run
 * --health-*, ps Status and --filter health=, inspect .State.Health, events
 * --filter event=health_status, --no-healthcheck over an image's check from
 * docker commit), the berth CLI's flags, probes that time out, no exec
 * monitor left behind after hundreds of probes, and docker-compose 1.29's
 * depends_on condition: service_healthy (compose file 2.4, network_mode none).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setup, runCommand, DOCKER, type Env, type Run } from './helpers.ts';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** berth-monitor processes started by a berthd (its children): one per running container and exec, plus the pooled one. */
function monitorsOf(daemonPid: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === daemonPid && readlinkSync(`/proc/${pid}/exe`).endsWith('berth-monitor')) out.push(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

describe('docker CLI: health checks on berthd', () => {
  let e: Env;
  let events: ChildProcess | undefined;
  before(async () => {
    e = await setup('berth-e2e-health-');
  });
  after(async () => {
    if (events && events.exitCode === null) events.kill('SIGTERM');
    await e?.stop();
  });

  const status = async (name: string) => (await e.docker('inspect', '--format', '{{.State.Health.Status}}', name)).stdout.trim();
  const psStatus = async (name: string) => (await e.docker('ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}')).stdout.trim();

  test('run --health-cmd: ps shows (health: starting) → (healthy) → (unhealthy), inspect has the log, events see the changes, ps filters by health', async () => {
    // docker events first, as a user watching would.
    let seen = '';
    events = spawn(DOCKER, ['events', '--filter', 'event=health_status', '--filter', 'container=web', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], {
      env: { ...process.env, DOCKER_HOST: e.d.host, DOCKER_CONFIG: join(e.work, 'docker-config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    events.stdout!.on('data', (b: Buffer) => (seen += b.toString()));
    await new Promise((r) => setTimeout(r, 300));

    const run = await e.docker('run', '-d', '--name', 'web', '--health-cmd', 'test -f /tmp/ok && echo fine', '--health-interval', '300ms', '--health-retries', '2', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    assert.match(await psStatus('web'), /^Up (Less than a second|\d+ seconds?) \(health: starting\)$/);
    assert.equal(await status('web'), 'starting');
    const cfg = await e.docker('inspect', '--format', '{{json .Config.Healthcheck}}', 'web');
    assert.deepEqual(JSON.parse(cfg.stdout), { Test: ['CMD-SHELL', 'test -f /tmp/ok && echo fine'], Interval: 300e6, Retries: 2 });

    assert.equal((await e.docker('exec', 'web', 'touch', '/tmp/ok')).code, 0);
    await until('healthy', async () => (await status('web')) === 'healthy');
    assert.match(await psStatus('web'), /^Up .* \(healthy\)$/);
    const h = JSON.parse((await e.docker('inspect', '--format', '{{json .State.Health}}', 'web')).stdout) as { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string; Start: string; End: string }> };
    assert.equal(h.FailingStreak, 0);
    assert.ok(h.Log.length >= 1 && h.Log.length <= 5);
    assert.deepEqual([h.Log.at(-1)!.ExitCode, h.Log.at(-1)!.Output], [0, 'fine\n']);
    assert.equal((await e.docker('ps', '--filter', 'health=healthy', '--format', '{{.Names}}')).stdout, 'web\n');
    assert.equal((await e.docker('ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}')).stdout, '');
    const badFilter = await e.docker('ps', '--filter', 'health=sick');
    assert.notEqual(badFilter.code, 0);
    assert.match(badFilter.stderr, /Unrecognised filter value for health: sick/);

    assert.equal((await e.docker('exec', 'web', 'rm', '/tmp/ok')).code, 0);
    await until('unhealthy', async () => (await status('web')) === 'unhealthy');
    assert.match(await psStatus('web'), /^Up .* \(unhealthy\)$/);
    assert.equal((await e.docker('inspect', '--format', '{{.State.Health.FailingStreak}}', 'web')).stdout.trim(), '2');
    await until('both events', async () => /unhealthy/.test(seen));
    assert.equal(seen, 'health_status: healthy web\nhealth_status: unhealthy web\n');
    events.kill('SIGTERM');
  });

  test('--no-healthcheck turns off an image\'s HEALTHCHECK (from docker commit); the image\'s check runs otherwise; probes are not in ExecIDs', async () => {
    const base = await e.docker('create', '--name', 'hcbase', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox', 'sleep', '300');
    assert.equal(base.code, 0, base.stderr);
    assert.equal((await e.docker('commit', 'hcbase', 'hcimg:1')).code, 0);
    const img = await e.docker('image', 'inspect', '--format', '{{json .Config.Healthcheck}}', 'hcimg:1');
    assert.deepEqual(JSON.parse(img.stdout), { Test: ['CMD-SHELL', 'true'], Interval: 200e6 });

    assert.equal((await e.docker('run', '-d', '--name', 'inherits', 'hcimg:1', 'sleep', '300')).code, 0);
    await until('healthy from the image\'s check', async () => (await status('inherits')) === 'healthy');
    assert.equal((await e.docker('inspect', '--format', '{{json .ExecIDs}}', 'inherits')).stdout.trim(), 'null', 'probes are not listed');

    assert.equal((await e.docker('run', '-d', '--name', 'nocheck', '--no-healthcheck', 'hcimg:1', 'sleep', '300')).code, 0);
    assert.deepEqual(JSON.parse((await e.docker('inspect', '--format', '{{json .Config.Healthcheck.Test}}', 'nocheck')).stdout), ['NONE']);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await e.docker('inspect', '--format', '{{json .State.Health}}', 'nocheck')).stdout.trim(), 'null');
    assert.match(await psStatus('nocheck'), /^Up [^()]*$/);
    assert.match((await e.docker('ps', '--filter', 'health=none', '--format', '{{.Names}}')).stdout, /^nocheck$/m);

    const conflict = await e.docker('run', '-d', '--no-healthcheck', '--health-cmd', 'true', 'busybox', 'true');
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /--no-healthcheck conflicts with --health-\* options/);
    await e.docker('rm', '-f', 'hcbase', 'inherits', 'nocheck');
    await e.docker('rmi', 'hcimg:1');
  });

  test('a probe over --health-timeout is killed and reported; stop ends the probing', async () => {
    const run = await e.docker('run', '-d', '--name', 'slow', '--health-cmd', 'echo started; sleep 30', '--health-interval', '100ms', '--health-timeout', '400ms', '--health-retries', '1', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    await until('unhealthy', async () => (await status('slow')) === 'unhealthy');
    const first = JSON.parse((await e.docker('inspect', '--format', '{{json (index .State.Health.Log 0)}}', 'slow')).stdout) as { ExitCode: number; Output: string; Start: string; End: string };
    assert.equal(first.ExitCode, -1);
    assert.equal(first.Output, 'Health check exceeded timeout (400ms): started\n');
    assert.ok(Date.parse(first.End) - Date.parse(first.Start) >= 400);
    assert.equal((await e.docker('stop', '-t', '0', 'slow')).code, 0);
    assert.match(await psStatus('slow'), /^Exited \(137\)/);
    const n = (await e.docker('inspect', '--format', '{{len .State.Health.Log}}', 'slow')).stdout;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await e.docker('inspect', '--format', '{{len .State.Health.Log}}', 'slow')).stdout, n, 'no probe after the stop');
    await e.docker('rm', 'slow');
  });

  test('the berth CLI: run --health-* flags, ps Status, inspect and --filter health', async () => {
    const run = await e.berth('run', '-d', '--name', 'bcli', '--health-cmd', 'echo hi', '--health-interval', '200ms', '--health-timeout', '5s', '--health-retries', '4', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse((await e.berth('inspect', '--format', '{{json .Config.Healthcheck}}', 'bcli')).stdout), { Test: ['CMD-SHELL', 'echo hi'], Interval: 200e6, Timeout: 5e9, Retries: 4 });
    await until('healthy', async () => (await e.berth('inspect', '--format', '{{.State.Health.Status}}', 'bcli')).stdout === 'healthy\n');
    assert.match((await e.berth('ps', '--filter', 'health=healthy', '--format', '{{.Names}} {{.Status}}')).stdout, /^bcli Up .* \(healthy\)$/m);
    const bad = await e.berth('run', '-d', '--health-interval', '2', 'busybox', 'true');
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid argument "2" for "--health-interval" flag: time: missing unit in duration "2"/);
    assert.equal((await e.berth('rm', '-f', 'bcli')).code, 0);
  });

  test('hundreds of probes leave no exec monitor, exec directory or socket behind', async () => {
    // Earlier containers' monitors exit a moment after them: start from the pooled one alone.
    await until('only the pooled monitor', async () => monitorsOf(e.d.pid).length <= 1, 10_000);
    const run = await e.docker('run', '-d', '--name', 'busy', '--health-cmd', 'true', '--health-interval', '1ms', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const t0 = Math.floor(Date.now() / 1000) - 1;
    const started = Date.now();
    // Each probe is an exec: exec_create, exec_start, exec_die, as dockerd reports them.
    // Count them until there are a hundred (how fast depends on the machine's load).
    let count = 0;
    for (let i = 0; i < 60 && count < 100; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const probes = await e.docker('events', '--since', String(t0), '--until', String(Math.ceil(Date.now() / 1000)), '--filter', 'container=busy', '--filter', 'event=exec_die', '--format', '{{.Action}}');
      count = probes.stdout.split('\n').filter((l) => l === 'exec_die').length;
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(count >= 100, `a hundred probes ran (${count})`);
    assert.equal(await status('busy'), 'healthy');
    const during = monitorsOf(e.d.pid).length;
    assert.ok(during >= 1 && during <= 4, `the container's monitor, the pooled one, at most a probe's or two (${during})`);
    assert.equal((await e.docker('stop', '-t', '0', 'busy')).code, 0);
    await until('exec monitors gone', async () => monitorsOf(e.d.pid).length <= 1, 10_000);
    const execDir = join(e.d.dataRoot, 'containers', id, 'exec');
    await until('exec dirs removed', async () => !existsSync(execDir) || readdirSync(execDir).length === 0, 10_000);
    const socketRoot = join('/run/berth/m', createHash('sha256').update(e.d.dataRoot).digest('hex').slice(0, 12));
    const left = existsSync(socketRoot) ? readdirSync(socketRoot) : [];
    const running = (await e.docker('ps', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
    assert.deepEqual(left.filter((s) => !running.includes(s)), [], 'only running containers have monitor sockets');
    await e.docker('rm', 'busy');
    console.log(`# ${count} probes in ${seconds.toFixed(1)} s (${((seconds * 1000) / count).toFixed(1)} ms each, exec start to exit and back)`);
  });
});

const COMPOSE_FILE = (dbTest: string, retries: number) => `version: "2.4"
services:
  db:
    image: busybox:latest
    network_mode: none
    command: sh -c 'sleep 1; touch /tmp/ready; exec sleep 300'
    healthcheck:
      test: ${dbTest}
      interval: 300ms
      timeout: 2s
      retries: ${retries}
  app:
    image: busybox:latest
    network_mode: none
    command: sh -c 'echo app-started; exec sleep 300'
    depends_on:
      db:
        condition: service_healthy
`;

describe('docker-compose 1.29: depends_on condition service_healthy', () => {
  let e: Env;
  let project: string;
  let name = 'hproj';
  const compose = (...args: string[]): Promise<Run> =>
    runCommand('docker-compose', ['--project-directory', project, '-f', join(project, 'docker-compose.yml'), '-p', name, ...args], {
      env: { DOCKER_HOST: e.d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
  before(async () => {
    e = await setup('berth-e2e-health-compose-');
    project = join(e.work, 'proj');
    await mkdir(project, { recursive: true });
  });
  after(async () => {
    for (const n of ['hproj', 'hsick']) {
      name = n;
      if (e) await compose('down', '-t', '0').catch(() => {});
    }
    await e?.stop();
  });

  test('app starts only once db is healthy', async () => {
    // Failing probes every 300ms until db is ready after 1s: under the 20 retries.
    await writeFile(join(project, 'docker-compose.yml'), COMPOSE_FILE('["CMD", "test", "-f", "/tmp/ready"]', 20));
    const t0 = Date.now();
    const up = await compose('up', '-d');
    assert.equal(up.code, 0, up.stderr);
    assert.ok(Date.now() - t0 >= 1000, 'up waited for the health check');
    assert.equal((await e.docker('inspect', '--format', '{{.State.Health.Status}}', 'hproj_db_1')).stdout, 'healthy\n');
    const started = async (name: string) => Date.parse((await e.docker('inspect', '--format', '{{.State.StartedAt}}', name)).stdout.trim());
    const dbHealthyAt = Date.parse(
      (JSON.parse((await e.docker('inspect', '--format', '{{json .State.Health.Log}}', 'hproj_db_1')).stdout) as Array<{ ExitCode: number; End: string }>).find((r) => r.ExitCode === 0)!.End,
    );
    assert.ok((await started('hproj_app_1')) >= dbHealthyAt, 'app started after db became healthy');
    assert.equal((await e.docker('inspect', '--format', '{{.State.Status}}', 'hproj_app_1')).stdout, 'running\n');
    const ps = await compose('ps');
    assert.match(ps.stdout, /^hproj_db_1 .* Up \(healthy\)/m);
    assert.equal((await compose('down', '-t', '0')).code, 0);
  });

  test('a dependency that turns unhealthy fails up; app is not created', async () => {
    name = 'hsick';
    await writeFile(join(project, 'docker-compose.yml'), COMPOSE_FILE('["CMD", "false"]', 2));
    const up = await compose('up', '-d');
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /ERROR: for app +Container "[0-9a-f]{12}" is unhealthy/);
    // Probes go on after compose gives up: the streak is at least the retries.
    assert.match((await e.docker('inspect', '--format', '{{.State.Health.Status}} {{.State.Health.FailingStreak}}', 'hsick_db_1')).stdout, /^unhealthy ([2-9]|\d{2,})\n$/);
    assert.equal((await e.docker('ps', '-a', '--filter', 'name=hsick_app', '--format', '{{.Names}}')).stdout, '', 'app was never created');
    assert.equal((await compose('down', '-t', '0')).code, 0);
  });
});

describe('berthd restarts with a probed container', () => {
  test('kill -9 berthd while probes run: the container lives on, a new berthd probes it again, no exec directory of the old probes is left', async () => {
    const dir = await makeTempDir('berth-e2e-health-kill9-');
    const dataRoot = join(dir, 'root');
    const socketPath = join(dir, 'berth.sock');
    const daemons: TestDaemon[] = [];
    const docker = (...args: string[]) => runCommand(DOCKER, args, { env: { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config') } });
    const status = async () => (await docker('inspect', '--format', '{{.State.Health.Status}}', 'live')).stdout.trim();
    try {
      daemons.push(await startDaemon({ dataRoot, socketPath }));
      await makeBusyboxTar(dir, join(dir, 'busybox.tar'));
      assert.equal((await docker('import', '-c', 'CMD ["sh"]', join(dir, 'busybox.tar'), 'busybox:latest')).code, 0);
      // Each probe takes 300 ms: one is almost always in flight.
      const run = await docker('run', '-d', '--name', 'live', '--health-cmd', 'sleep 0.3', '--health-interval', '10ms', 'busybox', 'sleep', '300');
      assert.equal(run.code, 0, run.stderr);
      const id = run.stdout.trim();
      await until('healthy', async () => (await status()) === 'healthy');
      const execDir = join(dataRoot, 'containers', id, 'exec');
      await until('a probe in flight', async () => existsSync(execDir) && readdirSync(execDir).length > 0, 5000);

      process.kill(daemons[0]!.pid, 'SIGKILL');
      await new Promise<void>((r) => daemons[0]!.process.once('exit', () => r()));
      // The orphaned probe finishes on its own (its monitor outlives berthd, as a container's does).
      await new Promise((r) => setTimeout(r, 800));
      const orphans = readdirSync(execDir);
      assert.ok(orphans.length >= 1, 'the killed berthd left its probe\'s exec directory');

      daemons.push(await startDaemon({ dataRoot, socketPath }));
      assert.equal((await docker('inspect', '--format', '{{.State.Status}}', 'live')).stdout, 'running\n');
      await until('healthy again', async () => (await status()) === 'healthy');
      for (const o of orphans) assert.equal(existsSync(join(execDir, o)), false, `stale exec directory ${o} removed`);
      assert.equal((await docker('stop', '-t', '0', 'live')).code, 0);
      await until('no exec directory left', async () => !existsSync(execDir) || readdirSync(execDir).length === 0, 5000);
      assert.equal((await docker('rm', 'live')).code, 0);
    } finally {
      for (const d of daemons) {
        if (d.process.exitCode === null && d.process.signalCode === null) await runCommand(DOCKER, ['-H', d.host, 'rm', '-f', 'live']).catch(() => {});
        await d.stop();
      }
      await removeTempDir(dir);
    }
  });
});
