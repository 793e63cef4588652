/**
 * Docker health checks, as dockerd runs them (moby daemon/health.go,
 * daemon/container/health.go):
 *
 * - Config.Healthcheck.Test: ["NONE"] disables (an image's check too),
 *   ["CMD", arg…] is exec'd as is, ["CMD-SHELL", cmd] through Config.Shell or
 *   /bin/sh -c; [] or an unknown type means no check.
 * - While the container runs (and is not paused) a probe runs every Interval
 *   (default 30s), measured from the end of one probe to the start of the
 *   next; the first one Interval after the start. During StartPeriod
 *   (default 0), while the status is still "starting", probes come every
 *   StartInterval (default 5s) instead, never later than the end of the start
 *   period (moby#46747).
 * - A probe is an exec in the container (ContainerService's createExec /
 *   startExec: the same launcher and per-exec monitor as `docker exec`), with
 *   the container's user, working directory and environment, stdout and
 *   stderr captured (4096 bytes kept, "..." appended when cut). It is killed
 *   (SIGKILL) after Timeout (default 30s) and counts as a failure with
 *   exit code -1 and "Health check exceeded timeout (30s)". Its exec record
 *   is dropped once it is done (inspect's ExecIDs never lists probes); its
 *   exec_create / exec_start / exec_die events are emitted, as dockerd does.
 * - State.Health: Status starting → healthy on a probe exiting 0, unhealthy
 *   after Retries (default 3) failures in a row (FailingStreak); failures
 *   inside the start period do not count while the status is still
 *   "starting". The last 5 results stay in Log. Each status change emits
 *   `health_status: <status>`.
 * - Start (and restart, and a live-restored container after berthd restarts)
 *   resets the status to "starting" and the streak to 0, keeping the log; a
 *   stop or pause ends the probing and leaves the status "unhealthy" (dockerd
 *   does, "for compatibility"); unpause resumes probing without a reset.
 *
 * Health is kept in the container's in-memory record (what inspect and ps
 * read) and is written to disk with the record's next state change, never by
 * itself: like dockerd, best-effort persistence, and no write can race a
 * removal.
 */
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { HealthConfig, HealthcheckResult, HealthState } from '../api/container-types.ts';
import { FrameReader, STDERR, STDOUT } from '../api/container-stdio.ts';
import { invalidArgument } from '../common/errors.ts';
import { formatGoDuration } from '../common/go-duration.ts';
import type { ContainerRecord } from './store.ts';
import type { ExecConfig, ExecRecord } from './service.ts';

/** Durations are nanoseconds, as in the API. */
export const DEFAULT_INTERVAL = 30e9;
export const DEFAULT_TIMEOUT = 30e9;
export const DEFAULT_START_PERIOD = 0;
export const DEFAULT_START_INTERVAL = 5e9;
export const DEFAULT_RETRIES = 3;
/** Longest probe output kept; more is cut and "..." appended. */
export const MAX_OUTPUT = 4096;
/** Results kept in State.Health.Log. */
export const MAX_LOG_ENTRIES = 5;
/** A probe whose exec has not started after this long is given up (a failure). */
const START_TIMEOUT_MS = 30_000;
/** The Engine API's container.MinimumDuration (1ms). */
const MINIMUM_DURATION = 1e6;

export const HEALTH_STATUSES = ['starting', 'healthy', 'unhealthy', 'none'] as const;

/** The probe command for a health config, or undefined when there is no check (none, NONE, empty, unknown type). */
export function probeCommand(hc: HealthConfig | null | undefined, shell: string[] | null | undefined): string[] | undefined {
  const test = hc?.Test;
  if (!test || test.length === 0) return undefined;
  switch (test[0]) {
    case 'CMD':
      return test.slice(1);
    case 'CMD-SHELL':
      return [...(shell && shell.length ? shell : ['/bin/sh', '-c']), ...test.slice(1)];
    default:
      // "NONE", or a type dockerd does not know either (it logs a warning and runs nothing).
      return undefined;
  }
}

/**
 * dockerd's create-time merge: without a user healthcheck the image's applies;
 * with one, each field the user left at zero comes from the image's.
 */
export function mergeHealthcheck(user: HealthConfig | null | undefined, image: HealthConfig | null | undefined): HealthConfig | undefined {
  if (!image) return user ?? undefined;
  if (!user) return image;
  const out: HealthConfig = { ...user };
  if (!user.Test || user.Test.length === 0) {
    if (image.Test) out.Test = image.Test;
    else delete out.Test;
  }
  for (const field of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
    if (!user[field]) {
      if (image[field]) out[field] = image[field];
      else delete out[field];
    }
  }
  return out;
}

/** dockerd's validateHealthCheck on a create request's healthcheck (400s with its messages). */
export function validateHealthcheck(hc: HealthConfig | null | undefined): void {
  if (!hc) return;
  const min = formatGoDuration(MINIMUM_DURATION);
  for (const field of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) {
    const v = hc[field] ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument('BERTH_CONTAINER_BAD_HEALTHCHECK', `${field} in Healthcheck must be a duration in nanoseconds`);
    if (v !== 0 && v < MINIMUM_DURATION) throw invalidArgument('BERTH_CONTAINER_BAD_HEALTHCHECK', `${field} in Healthcheck cannot be less than ${min}`);
  }
  if ((hc.Retries ?? 0) < 0) throw invalidArgument('BERTH_CONTAINER_BAD_HEALTHCHECK', 'Retries in Healthcheck cannot be negative');
  if (hc.Test !== undefined && hc.Test !== null && (!Array.isArray(hc.Test) || hc.Test.some((a) => typeof a !== 'string'))) {
    throw invalidArgument('BERTH_CONTAINER_BAD_HEALTHCHECK', 'Test in Healthcheck must be a list of strings');
  }
}

/** The `health` filter of GET /containers/json: values checked as dockerd does. */
export function checkHealthFilter(values: string[] | undefined): void {
  for (const v of values ?? []) {
    if (!(HEALTH_STATUSES as readonly string[]).includes(v)) throw invalidArgument('BERTH_CONTAINER_BAD_FILTER', `Unrecognised filter value for health: ${v}`);
  }
}

/** What the `health` filter compares: the status, or "none" for a container that never ran a check. */
export function healthStatusOf(rec: ContainerRecord): string {
  return rec.State.Health?.Status ?? 'none';
}

/** Keeps the first MAX_OUTPUT bytes; String() adds "..." when more came (dockerd's limitedBuffer). */
class LimitedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  write(data: Buffer): void {
    const keep = Math.min(MAX_OUTPUT - this.size, data.length);
    if (keep > 0) {
      this.chunks.push(data.subarray(0, keep));
      this.size += keep;
    }
    if (keep < data.length) this.truncated = true;
  }

  toString(): string {
    const out = Buffer.concat(this.chunks).toString('utf8');
    return this.truncated ? `${out}...` : out;
  }
}

/** The exec side of ContainerService that probes use. */
export interface ProbeExecs {
  createExec(ref: string, config: ExecConfig): string;
  startExec(id: string, opts?: { detach?: boolean }): Promise<Socket | undefined>;
  getExec(id: string): ExecRecord;
  /** Drop a finished exec's record (probes are not kept for GET /exec/{id}/json). */
  forgetExec(id: string): void;
}

export interface HealthHost {
  execs: ProbeExecs;
  /** The container's current record; undefined once it is removed. */
  find(id: string): ContainerRecord | undefined;
  /** A container event (`health_status: healthy`), with the usual attributes. */
  publish(rec: ContainerRecord, action: string): void;
}

type Outcome = { result: Omit<HealthcheckResult, 'Start'> } | { cancelled: true };

interface Monitor {
  timer: NodeJS.Timeout | undefined;
  /** The probe in flight, if any. */
  probe: { cancel: () => void; done: Promise<unknown> } | undefined;
  stopped: boolean;
}

const ns = (v: number | undefined, fallback: number) => (v && v > 0 ? v : fallback);

/**
 * The health monitors of an engine's containers: one per running container
 * with a check. ContainerService calls start on every start and live restore,
 * stop on every exit, pause/resume with the freezer, and close when berthd
 * shuts down (probes in flight are killed and waited for: no exec monitor,
 * exec directory or timer outlives them).
 */
export class HealthChecker {
  private readonly host: HealthHost;
  private readonly monitors = new Map<string, Monitor>();
  /** Probe cleanups still running after their probe was given up (start timeout). */
  private readonly stragglers = new Set<Promise<unknown>>();

  constructor(host: HealthHost) {
    this.host = host;
  }

  /** Ids of the containers being probed (for tests and leak checks). */
  monitoring(): string[] {
    return [...this.monitors.keys()];
  }

  /** Reset the health state of a container that (re)started or was found running, and start probing. */
  start(rec: ContainerRecord): void {
    if (!probeCommand(rec.Config.Healthcheck, rec.Config.Shell)) return;
    void this.closeMonitor(rec.Id);
    const log = rec.State.Health?.Log ?? [];
    rec.State.Health = { Status: 'starting', FailingStreak: 0, Log: log };
    this.update(rec);
  }

  /** The container stopped: no more probes; the status becomes "unhealthy". Resolves once a probe in flight is gone. */
  stop(id: string): Promise<void> {
    return this.closeMonitor(id);
  }

  /** Paused: probes stop (dockerd's updateHealthMonitor), the status becomes "unhealthy". */
  pause(id: string): Promise<void> {
    return this.closeMonitor(id);
  }

  /** Unpaused: probing resumes where it was, without resetting the status. */
  resume(id: string): void {
    const rec = this.host.find(id);
    if (rec) this.update(rec);
  }

  /** berthd is shutting down: stop every monitor and wait (bounded) for probes in flight. */
  async close(): Promise<void> {
    const waits: Promise<unknown>[] = [...this.monitors.keys()].map((id) => this.closeMonitor(id, { keepStatus: true }));
    waits.push(...this.stragglers);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  /** Probe or not, as the container's state asks. */
  private update(rec: ContainerRecord): void {
    const want = rec.State.Running && !rec.State.Paused && !!rec.State.Health && !!probeCommand(rec.Config.Healthcheck, rec.Config.Shell);
    if (!want) {
      void this.closeMonitor(rec.Id);
      return;
    }
    if (this.monitors.has(rec.Id)) return;
    const mon: Monitor = { timer: undefined, probe: undefined, stopped: false };
    this.monitors.set(rec.Id, mon);
    this.schedule(rec, mon);
  }

  private closeMonitor(id: string, opts: { keepStatus?: boolean } = {}): Promise<void> {
    const mon = this.monitors.get(id);
    if (!mon) return Promise.resolve();
    this.monitors.delete(id);
    mon.stopped = true;
    if (mon.timer) clearTimeout(mon.timer);
    mon.timer = undefined;
    // dockerd's CloseMonitorChannel: "unhealthy when the monitor has stopped for compatibility reasons".
    const rec = this.host.find(id);
    if (!opts.keepStatus && rec?.State.Health) rec.State.Health.Status = 'unhealthy';
    if (!mon.probe) return Promise.resolve();
    mon.probe.cancel();
    return mon.probe.done.then(() => {}, () => {});
  }

  private interval(rec: ContainerRecord): number {
    const hc = rec.Config.Healthcheck ?? {};
    const probeInterval = ns(hc.Interval, DEFAULT_INTERVAL);
    const startInterval = ns(hc.StartInterval, DEFAULT_START_INTERVAL);
    const startPeriod = ns(hc.StartPeriod, DEFAULT_START_PERIOD);
    const elapsed = (Date.now() - Date.parse(rec.State.StartedAt)) * 1e6;
    if (!(elapsed < startPeriod)) return probeInterval;
    if (rec.State.Health?.Status === 'starting') return Math.min(startInterval, Math.max(startPeriod - elapsed, MINIMUM_DURATION));
    return probeInterval;
  }

  private schedule(rec: ContainerRecord, mon: Monitor): void {
    const ms = Math.min(Math.max(1, Math.round(this.interval(rec) / 1e6)), 2 ** 31 - 1);
    mon.timer = setTimeout(() => {
      mon.timer = undefined;
      void this.tick(rec.Id, mon);
    }, ms);
    // Probes never keep berthd (or a test process) alive by themselves.
    mon.timer.unref();
  }

  private async tick(id: string, mon: Monitor): Promise<void> {
    const rec = this.host.find(id);
    if (!rec || mon.stopped) return;
    const start = new Date();
    let cancel!: () => void;
    const cancelled = new Promise<{ cancelled: true }>((resolve) => (cancel = () => resolve({ cancelled: true })));
    const done = this.runProbe(rec, cancelled).catch(
      (err: unknown): Outcome => ({ result: { End: new Date().toISOString(), ExitCode: -1, Output: (err as Error).message ?? String(err) } }),
    );
    mon.probe = { cancel, done };
    const outcome = await done;
    mon.probe = undefined;
    if (mon.stopped || 'cancelled' in outcome) return;
    const current = this.host.find(id);
    if (!current) return;
    this.record(current, { Start: start.toISOString(), ...outcome.result }, start.getTime());
    this.schedule(current, mon);
  }

  /** dockerd's handleProbeResult. */
  private record(rec: ContainerRecord, result: HealthcheckResult, startMs: number): void {
    const h: HealthState | undefined = rec.State.Health;
    if (!h) return;
    const hc = rec.Config.Healthcheck ?? {};
    const retries = hc.Retries && hc.Retries > 0 ? hc.Retries : DEFAULT_RETRIES;
    const old = h.Status;
    h.Log = [...h.Log, result].slice(-MAX_LOG_ENTRIES);
    if (result.ExitCode === 0) {
      h.FailingStreak = 0;
      h.Status = 'healthy';
    } else {
      const startPeriod = ns(hc.StartPeriod, DEFAULT_START_PERIOD);
      const sinceStart = (startMs - Date.parse(rec.State.StartedAt)) * 1e6;
      // Still starting (never healthy yet) and inside the start period: not counted.
      if (!(h.Status === 'starting' && sinceStart < startPeriod)) {
        h.FailingStreak++;
        if (h.FailingStreak >= retries) h.Status = 'unhealthy';
      }
    }
    if (h.Status !== old) this.host.publish(rec, `health_status: ${h.Status}`);
  }

  /** One probe: exec, capture, time out. Resolves with the result, or cancelled once the probe is gone. */
  private async runProbe(rec: ContainerRecord, cancelled: Promise<{ cancelled: true }>): Promise<Outcome> {
    const hc = rec.Config.Healthcheck ?? {};
    const cmd = probeCommand(hc, rec.Config.Shell) ?? [];
    const timeoutNs = ns(hc.Timeout, DEFAULT_TIMEOUT);
    const { execs } = this.host;
    // The container's own user, working directory and environment: the exec defaults.
    const id = execs.createExec(rec.Id, { Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false, Privileged: false });
    let forget = true;
    try {
      const starting = execs.startExec(id);
      let startTimer: NodeJS.Timeout | undefined;
      const first = await Promise.race([
        starting.then((sock) => ({ sock })),
        new Promise<'timeout'>((resolve) => (startTimer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS))),
        cancelled,
      ]);
      clearTimeout(startTimer);
      if (first === 'timeout' || 'cancelled' in first) {
        // The start may still complete: kill the probe then, and drop its record once it is gone.
        forget = false;
        const cleanup = starting
          .then(async (sock) => {
            sock?.destroy();
            const ex = execs.getExec(id);
            killProbe(ex);
            await ex.exited;
          })
          .catch(() => {})
          .finally(() => execs.forgetExec(id));
        if (first !== 'timeout') {
          await cleanup;
          return first;
        }
        // dockerd gives up on an exec that has not started after 30s; berthd's shutdown still waits for it.
        this.stragglers.add(cleanup);
        void cleanup.finally(() => this.stragglers.delete(cleanup));
        throw new Error(`timed out starting health check for container ${rec.Id}`);
      }
      const sock = first.sock!;
      const ex = execs.getExec(id);
      const output = new LimitedBuffer();
      const frames = new FrameReader();
      sock.on('data', (chunk: Buffer) => {
        for (const f of frames.push(chunk)) if (f.stream === STDOUT || f.stream === STDERR) output.write(f.data);
      });
      const closed = new Promise<void>((resolve) => {
        sock.once('close', () => resolve());
        sock.on('error', () => {});
      });
      // Exited and every byte of output read (the monitor closes attach clients after the exit).
      const finished = Promise.all([ex.exited, closed]).then(() => 'exited' as const);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        finished,
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.min(Math.max(1, Math.round(timeoutNs / 1e6)), 2 ** 31 - 1)))),
        cancelled,
      ]);
      clearTimeout(timer);
      if (outcome === 'exited') {
        return { result: { End: new Date().toISOString(), ExitCode: ex.ExitCode ?? -1, Output: output.toString() } };
      }
      // Timed out or cancelled: kill it, and wait for it to be gone (dying probes must not pile up).
      killProbe(ex);
      await finished;
      if (outcome !== 'timeout') return outcome;
      const out = output.toString();
      const limit = formatGoDuration(timeoutNs);
      return {
        result: {
          End: new Date().toISOString(),
          ExitCode: -1,
          Output: out ? `Health check exceeded timeout (${limit}): ${out}` : `Health check exceeded timeout (${limit})`,
        },
      };
    } finally {
      if (forget) execs.forgetExec(id);
    }
  }
}

function killProbe(ex: ExecRecord): void {
  if (!ex.Running || ex.Pid <= 0) return;
  try {
    process.kill(ex.Pid, osConstants.signals.SIGKILL);
  } catch {
    /* already gone */
  }
}
