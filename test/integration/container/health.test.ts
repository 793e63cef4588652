/**
 * Health checks through ContainerService on real containers: probes are real
 * execs (launcher + per-exec monitor) in busybox; status transitions, the
 * failing streak, the log, timeouts that kill, the start period, NONE over
 * an image's check, pause, stop/start, a berthd restart (live restore), and
 * no leftover exec records, exec directories, monitor processes or timers
 * after many probes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { ImageService } from '../../../src/image/service.ts';
import { importRootfs } from '../../../src/image/archive/index.ts';
import { ContainerService } from '../../../src/container/service.ts';
import { commitContainer } from '../../../src/container/commit.ts';
import { EventHub, type EngineEvent } from '../../../src/api/events.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { containerSummary } from '../../../src/api/container-json.ts';
import type { HealthConfig } from '../../../src/api/container-types.ts';

const MS = 1e6;
const S = 1e9;

let root: string;
let images: ImageService;
let containers: ContainerService;
const events = new EventHub(100_000);
const seen: EngineEvent[] = [];
events.subscribe((e) => seen.push(e));

const open = () => ContainerService.open({ dataRoot: join(root, 'data'), images, events });

async function runWith(healthcheck: HealthConfig | undefined, extra: Record<string, unknown> = {}): Promise<string> {
  const { Id } = await containers.create({ Image: 'busybox', Cmd: ['sleep', '300'], ...(healthcheck ? { Healthcheck: healthcheck } : {}), ...extra });
  await containers.start(Id);
  return Id;
}

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const health = (id: string) => containers.get(id).State.Health;
const healthEvents = (id: string) => seen.filter((e) => e.Actor.ID === id && e.Action.startsWith('health_status')).map((e) => e.Action);

/** berth-monitor processes that are children of this process (the container's, exec monitors, the pooled one). */
function childMonitors(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readlinkSync(`/proc/${pid}/exe`).endsWith('berth-monitor')) out.push(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

before(async () => {
  root = await makeTempDir('berth-health-');
  const tar = join(root, 'busybox.tar');
  await makeBusyboxTar(root, tar);
  images = await ImageService.open(join(root, 'data'));
  await importRootfs(images, createReadStream(tar), { ref: 'busybox:latest', changes: ['CMD ["sh"]'] });
  containers = await open();
});

after(async () => {
  for (const c of containers?.list({ all: true }) ?? []) await containers.remove(c.Id, { force: true }).catch(() => {});
  await containers?.close();
  await removeTempDir(root);
});

describe('health checks', () => {
  test('a passing probe: starting → healthy, one health_status event, output logged, the probe exec forgotten', async () => {
    const id = await runWith({ Test: ['CMD-SHELL', 'echo ok from $HOSTNAME; echo err >&2'], Interval: 200 * MS });
    assert.deepEqual(health(id), { Status: 'starting', FailingStreak: 0, Log: [] });
    assert.match(containerSummary(containers.get(id)).Status, /^Up .* \(health: starting\)$/);
    await until('healthy', () => health(id)?.Status === 'healthy');
    const h = health(id)!;
    assert.equal(h.FailingStreak, 0);
    assert.equal(h.Log[0]!.ExitCode, 0);
    assert.equal(h.Log[0]!.Output, `ok from ${id.slice(0, 12)}\nerr\n`);
    assert.ok(Date.parse(h.Log[0]!.Start) <= Date.parse(h.Log[0]!.End));
    assert.match(containerSummary(containers.get(id)).Status, /^Up .* \(healthy\)$/);
    assert.deepEqual(healthEvents(id), ['health_status: healthy']);
    // Exec events as dockerd emits them for probes; the record is gone once the probe is done.
    const created = await until('exec_create', () => seen.find((e) => e.Actor.ID === id && e.Action.startsWith('exec_create: ')));
    assert.equal(created.Action, 'exec_create: /bin/sh -c echo ok from $HOSTNAME; echo err >&2');
    const execId = created.Actor.Attributes.execID!;
    await until('exec_die', () => seen.some((e) => e.Action === 'exec_die' && e.Actor.Attributes.execID === execId));
    await until('forgotten', () => {
      try {
        containers.getExec(execId);
        return false;
      } catch (err) {
        return isBerthError(err, 'BERTH_EXEC_NOT_FOUND');
      }
    });
    assert.equal(containers.list({ filters: { health: ['healthy'] } }).some((c) => c.Id === id), true);
    assert.equal(containers.list({ filters: { health: ['starting', 'unhealthy'] } }).some((c) => c.Id === id), false);
    await containers.remove(id, { force: true });
  });

  test('failing probes: unhealthy after Retries failures in a row, FailingStreak and a log of the last 5', async () => {
    const id = await runWith({ Test: ['CMD', 'sh', '-c', 'echo fail; exit 3'], Interval: 50 * MS, Retries: 2 });
    await until('unhealthy', () => health(id)?.Status === 'unhealthy');
    assert.ok(health(id)!.FailingStreak >= 2);
    assert.deepEqual(healthEvents(id), ['health_status: unhealthy']);
    await until('7 failures', () => health(id)!.FailingStreak >= 7);
    const h = health(id)!;
    assert.equal(h.Log.length, 5, 'only the last 5 results are kept');
    for (const r of h.Log) assert.deepEqual([r.ExitCode, r.Output], [3, 'fail\n']);
    for (let i = 1; i < 5; i++) assert.ok(h.Log[i - 1]!.Start <= h.Log[i]!.Start, 'oldest first');
    assert.match(containerSummary(containers.get(id)).Status, /\(unhealthy\)$/);
    await containers.remove(id, { force: true });
  });

  test('a probe that outlives Timeout is killed and counts as a failure (-1, "Health check exceeded timeout")', async () => {
    const id = await runWith({ Test: ['CMD-SHELL', 'echo partial; exec sleep 77'], Interval: 100 * MS, Timeout: 300 * MS, Retries: 1 });
    const t0 = Date.now();
    await until('unhealthy', () => health(id)?.Status === 'unhealthy');
    assert.ok(Date.now() - t0 >= 350, 'not before the timeout');
    const r = health(id)!.Log[0]!;
    assert.equal(r.ExitCode, -1);
    assert.equal(r.Output, 'Health check exceeded timeout (300ms): partial\n');
    assert.ok(Date.parse(r.End) - Date.parse(r.Start) >= 300);
    // Each hanging probe is killed at its timeout: they do not pile up in the container.
    await until('3 timeouts', () => health(id)!.FailingStreak >= 3);
    const cgroup = containers.cgroupOf(id)!;
    const sleeping = (await cgroup.processes()).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x0077\x00';
      } catch {
        return false;
      }
    });
    assert.ok(sleeping.length <= 1, `at most the probe in flight: ${sleeping.length}`);
    await containers.stop(id, { timeout: 0 });
    // Stopped: the probes stop with it.
    assert.equal(containers.health.monitoring().includes(id), false);
    assert.equal(health(id)!.Status, 'unhealthy');
    await containers.remove(id);
  });

  test('a quiet probe over the timeout, and output over 4096 bytes is cut with "..."', async () => {
    const quiet = await runWith({ Test: ['CMD', 'sleep', '60'], Interval: 50 * MS, Timeout: 1.5 * S, Retries: 1 });
    const loud = await runWith({ Test: ['CMD-SHELL', 'head -c 5000 /dev/zero | tr "\\0" a'], Interval: 50 * MS });
    await until('both done', () => health(quiet)?.Status === 'unhealthy' && health(loud)?.Status === 'healthy');
    assert.equal(health(quiet)!.Log[0]!.Output, 'Health check exceeded timeout (1.5s)');
    assert.equal(health(loud)!.Log[0]!.Output, `${'a'.repeat(4096)}...`);
    await containers.remove(quiet, { force: true });
    await containers.remove(loud, { force: true });
  });

  test('a probe command that cannot run fails with -1 and the reason', async () => {
    const id = await runWith({ Test: ['CMD', '/no/such/probe'], Interval: 50 * MS, Retries: 1 });
    await until('unhealthy', () => health(id)?.Status === 'unhealthy');
    const r = health(id)!.Log[0]!;
    assert.equal(r.ExitCode, -1);
    assert.match(r.Output, /no\/such\/probe/);
    await containers.remove(id, { force: true });
  });

  test('start period: failures do not count while starting; after it they do; a success inside it ends the grace', async () => {
    const hc = { Test: ['CMD-SHELL', 'test -f /tmp/ok'], Interval: 100 * MS, StartInterval: 100 * MS, StartPeriod: 1.5 * S, Retries: 1 };
    const id = await runWith(hc);
    await until('3 failed probes', () => (health(id)?.Log.length ?? 0) >= 3);
    const during = health(id)!;
    assert.equal(during.Status, 'starting', 'failures inside the start period are not counted');
    assert.equal(during.FailingStreak, 0);
    assert.ok(during.Log.every((r) => r.ExitCode === 1));
    await until('unhealthy after the start period', () => health(id)?.Status === 'unhealthy');
    assert.ok(Date.now() - Date.parse(containers.get(id).State.StartedAt) >= 1400);

    // Healthy once inside the start period: from then on failures count at once.
    const other = await runWith({ ...hc, StartPeriod: 60 * S });
    const touch = containers.createExec(other, { Cmd: ['touch', '/tmp/ok'] });
    await containers.startExec(touch, { detach: true });
    await until('healthy', () => health(other)?.Status === 'healthy');
    const rm = containers.createExec(other, { Cmd: ['rm', '/tmp/ok'] });
    await containers.startExec(rm, { detach: true });
    await until('unhealthy inside the start period', () => health(other)?.Status === 'unhealthy');
    assert.deepEqual(healthEvents(other), ['health_status: healthy', 'health_status: unhealthy']);
    await containers.remove(id, { force: true });
    await containers.remove(other, { force: true });
  });

  test('NONE disables the image\'s check; the user\'s fields are merged over the image\'s one by one', async () => {
    // An image with a HEALTHCHECK: commit a container that has one.
    const { Id: base } = await containers.create({ Image: 'busybox', Cmd: ['sleep', '300'], Healthcheck: { Test: ['CMD', 'true'], Interval: 80 * MS, Retries: 4 } });
    const snap = images.snapshotter!;
    const rec = containers.get(base);
    await commitContainer({ images, snapshotter: snap, snapshotKey: rec.SnapshotKey, baseImageId: rec.Image, containerConfig: rec.Config, reference: 'hc:latest' });
    const inherited = await runWith(undefined, { Image: 'hc:latest' });
    assert.deepEqual(containers.get(inherited).Config.Healthcheck, { Test: ['CMD', 'true'], Interval: 80 * MS, Retries: 4 });
    await until('healthy from the image\'s check', () => health(inherited)?.Status === 'healthy');
    const merged = await runWith({ Test: ['CMD', 'false'], Retries: 1 }, { Image: 'hc:latest' });
    assert.deepEqual(containers.get(merged).Config.Healthcheck, { Test: ['CMD', 'false'], Interval: 80 * MS, Retries: 1 });
    await until('unhealthy from the user\'s test', () => health(merged)?.Status === 'unhealthy');
    const none = await runWith({ Test: ['NONE'] }, { Image: 'hc:latest' });
    assert.deepEqual(containers.get(none).Config.Healthcheck!.Test, ['NONE']);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(health(none), undefined, 'no State.Health at all');
    assert.equal(containers.health.monitoring().includes(none), false);
    assert.match(containerSummary(containers.get(none)).Status, /^Up [^(]*$/);
    assert.equal(containers.list({ filters: { health: ['none'] } }).some((c) => c.Id === none), true);
    assert.throws(() => containers.list({ filters: { health: ['sick'] } }), (e) => isBerthError(e) && e.status === 400 && /Unrecognised filter value for health: sick/.test(e.message));
    for (const c of [base, inherited, merged, none]) await containers.remove(c, { force: true });
    await images.remove('hc:latest').catch(() => {});
  });

  test('bad durations and retries are refused at create with dockerd\'s messages', async () => {
    const refused = (hc: HealthConfig, message: RegExp) =>
      assert.rejects(containers.create({ Image: 'busybox', Healthcheck: hc }), (e) => isBerthError(e) && e.status === 400 && message.test(e.message));
    await refused({ Interval: 500 * 1e3 }, /^Interval in Healthcheck cannot be less than 1ms$/);
    await refused({ Timeout: -1 }, /^Timeout in Healthcheck cannot be less than 1ms$/);
    await refused({ StartPeriod: 10 }, /^StartPeriod in Healthcheck cannot be less than 1ms$/);
    await refused({ StartInterval: 10 }, /^StartInterval in Healthcheck cannot be less than 1ms$/);
    await refused({ Retries: -1 }, /^Retries in Healthcheck cannot be negative$/);
  });

  test('pause stops the probes (unhealthy), unpause resumes them; stop and start reset to starting', async () => {
    const id = await runWith({ Test: ['CMD', 'true'], Interval: 100 * MS });
    await until('healthy', () => health(id)?.Status === 'healthy');
    await containers.pause(id);
    assert.equal(health(id)!.Status, 'unhealthy', 'dockerd marks a stopped monitor unhealthy');
    assert.equal(containers.health.monitoring().includes(id), false);
    const logged = health(id)!.Log.at(-1)!.Start;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(health(id)!.Log.at(-1)!.Start, logged, 'no probe while paused');
    await containers.unpause(id);
    await until('healthy again', () => health(id)?.Status === 'healthy');
    await containers.stop(id, { timeout: 0 });
    assert.equal(health(id)!.Status, 'unhealthy');
    const kept = health(id)!.Log.length;
    await containers.start(id);
    assert.equal(health(id)!.Status, 'starting');
    assert.equal(health(id)!.Log.length, kept, 'the log is kept across a restart');
    await until('healthy after the restart', () => health(id)?.Status === 'healthy');
    await containers.remove(id, { force: true });
  });

  test('berthd restart: a live container is probed again (starting, then healthy)', async () => {
    const id = await runWith({ Test: ['CMD-SHELL', 'test -f /tmp/ok'], Interval: 100 * MS, Retries: 1 });
    await until('unhealthy', () => health(id)?.Status === 'unhealthy');
    const touch = containers.createExec(id, { Cmd: ['touch', '/tmp/ok'] });
    await containers.startExec(touch, { detach: true });
    await containers.getExec(touch).exited;
    await containers.close();
    containers = await open();
    assert.equal(containers.get(id).State.Running, true);
    assert.equal(health(id)!.Status, 'starting');
    assert.deepEqual(containers.health.monitoring(), [id]);
    await until('healthy after the restore', () => health(id)?.Status === 'healthy');
    await containers.remove(id, { force: true });
  });

  test('many probes leave nothing behind: no exec dirs, sockets, exec records, monitors or timers', async () => {
    // Earlier containers' monitors exit a moment after them: start from the pooled one alone.
    await until('only the pooled monitor', () => childMonitors().length <= 1, 10_000);
    const id = await runWith({ Test: ['CMD-SHELL', 'echo x'], Interval: 1 * MS });
    const execIds = new Set<string>();
    const sub = events.subscribe((e) => {
      if (e.Actor.ID === id && e.Action.startsWith('exec_create')) execIds.add(e.Actor.Attributes.execID!);
    });
    await until('60 probes', () => execIds.size >= 60, 60_000);
    sub();
    assert.ok(childMonitors().includes(containers.get(id).MonitorPid), 'the container\'s monitor is seen (the check below is not vacuous)');
    await containers.stop(id, { timeout: 0 });
    // Probes stopped with the container; their records, directories and monitors are gone.
    assert.equal(containers.health.monitoring().length, 0);
    await until('exec monitors gone', () => childMonitors().length <= 1, 5000);
    const execDir = join(containers.dir(id), 'exec');
    await until('exec dirs removed', () => !existsSync(execDir) || readdirSync(execDir).length === 0, 5000);
    for (const e of execIds) assert.throws(() => containers.getExec(e), (err) => isBerthError(err, 'BERTH_EXEC_NOT_FOUND'));
    const socketRoot = join(containers.socketDir(id), '..');
    for (const e of execIds) assert.equal(existsSync(join(socketRoot, e)), false, 'exec socket dir removed');
    assert.equal(health(id)!.Log.length, 5);
    await containers.remove(id);
  });
});
