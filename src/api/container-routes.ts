/**
 * The container endpoints of the Engine API: a thin adapter over
 * ContainerService (src/container/service.ts). Parse Docker's parameters,
 * call the service, answer in Docker's shapes and framing — see
 * protocol-traces/docker-run-rm.txt (attach before start, wait streamed),
 * docker-run-d, docker-ps, docker-logs, docker-inspect, docker-stop, docker-rm.
 */
import { findNativeBinary } from '../common/native.ts';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { BerthError } from '../common/errors.ts';
import { validateResources } from '../container/resources.ts';
import type { ContainerService, WaitCondition } from '../container/service.ts';
import type { ImageService } from '../image/service.ts';
import type { ContainerRecord } from '../container/store.ts';
import { getArchive, putArchive, statContainerPath, encodePathStatHeader } from '../container/archive.ts';
import type { RequestContext } from './context.ts';
import type { Router } from './router.ts';
import type { ContainerCreateRequest } from './container-types.ts';
import type { ContainerUpdateRequest, ContainersPruneReport } from './container-wire.ts';
import { containerInspect, containerSummary, graphDriver } from './container-json.ts';
import { DetachScanner, FrameReader, STDERR, STDOUT, frame, parseDetachKeys } from './container-stdio.ts';
import { parseTimeFilter } from './time-filter.ts';
import { execIdsOf } from './exec-routes.ts';
import { topProcesses } from '../container/top.ts';
import { dockerStats, systemCpuUsageNs, type PreviousStats } from '../container/stats.ts';
import { commitContainer, containerChanges, containerSizeRw } from '../container/commit.ts';
import { exportContainer } from '../container/export.ts';
import { cpus } from 'node:os';
import type { ContainerConfig } from './container-types.ts';
import { compareVersions } from './version.ts';
import type { EventHub } from './events.ts';
import { familiarString, parseReference } from '../image/reference.ts';
import { parseVolumesFrom } from '../container/mounts.ts';
import { RUNTIMES } from './system-routes.ts';

const versionAtLeast = (v: string, min: string) => compareVersions(v, min) >= 0;

/** berth-init for --init: $BERTH_INIT, else native/build/berth-init of this checkout. */
export function initBinary(): string | undefined {
  return findNativeBinary('berth-init', 'BERTH_INIT');
}

export interface ContainerRoutesDeps {
  containers: ContainerService;
  images: ImageService;
  /** For the image events of a commit (its tag). */
  events?: Pick<EventHub, 'emit'>;
}

const badParam = (message: string) => new BerthError('BERTH_API_BAD_PARAMETER', message, { status: 400 });

/** An integer query parameter; 400 when present but not a number. */
function intParam(ctx: RequestContext, name: string): number | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badParam(`invalid value for ${name}: ${JSON.stringify(v)} is not an integer`);
  return Number(v);
}

function filtersObject(ctx: RequestContext): Record<string, string[]> {
  return Object.fromEntries(ctx.filters());
}

/** The container's writable-layer size (SizeRw) and with its image (SizeRootFs), for `?size=1`. */
async function sizes(deps: ContainerRoutesDeps, rec: ContainerRecord): Promise<{ sizeRw: number; sizeRootFs: number }> {
  const snap = deps.images.snapshotter;
  const rw = snap ? await containerSizeRw(snap, rec.SnapshotKey).catch(() => 0) : 0;
  let imageSize = 0;
  try {
    const summaries = await deps.images.list({ all: true });
    imageSize = summaries.find((s) => s.id === rec.Image)?.size ?? 0;
  } catch {
    /* image gone: its size is unknown */
  }
  return { sizeRw: rw, sizeRootFs: rw + imageSize };
}

/**
 * Clients pick the exit code of a failed `run` from the start error's text
 * (the docker CLI: "executable file not found" / "no such file or directory"
 * → 127, "permission denied" → 126). The service records which it was in
 * State.ExitCode; say it in the words clients look for.
 */
function withDockerStartWording(err: unknown, rec: ContainerRecord | undefined): unknown {
  if (!(err instanceof BerthError) || !rec) return err;
  const code = rec.State.ExitCode;
  let message = err.message;
  if (code === 127 && !/executable file not found|no such file or directory/.test(message)) {
    message = `${message}: exec: "${rec.Path}": executable file not found in $PATH`;
  } else if (code === 126 && !/permission denied/.test(message)) {
    message = `${message}: exec: "${rec.Path}": permission denied`;
  } else return err;
  return new BerthError(err.code, message, { status: err.status >= 400 ? err.status : 400 });
}

/** 204/304 as dockerd sends them: no Content-Length, no body (trace: docker-stop.txt, docker-rm.txt). */
function bodiless(ctx: RequestContext, status: 204 | 304): void {
  const res = ctx.res!;
  res.writeHead(status);
  res.end();
}

/** A 304 from the service (already started / not running) is not an error for Docker. */
function isNotModified(err: unknown): boolean {
  return err instanceof BerthError && err.status === 304;
}

/**
 * Pump a hijacked client connection and a monitor attach socket into each
 * other. Output: frames filtered to the streams asked for, headers stripped
 * for a TTY. Input (when asked for): through the detach-key scanner. A client
 * half-close ends stdin (with StdinOnce the container sees EOF); the monitor
 * closing (process exited) ends the client's stream.
 */
export function pumpAttach(
  client: Duplex,
  monitor: Socket,
  opts: {
    tty: boolean;
    stdout: boolean;
    stderr: boolean;
    stdin: boolean;
    detachKeys: Buffer;
    onStdinEnd?: () => void;
    /** Awaited before the client's stream ends when the process is done (exec: its exit code is recorded first). */
    beforeEnd?: () => Promise<void>;
  },
): Promise<void> {
  return new Promise((done) => {
    const reader = new FrameReader();
    let finished = false;
    const finish = (processDone: boolean, detached = false) => {
      if (finished) return;
      finished = true;
      if (detached || (opts.tty && !processDone)) {
        // The monitor treats a client going away as the end of a StdinOnce
        // session and closes stdin — on a TTY that hangs up the shell. Docker
        // closes stdin on disconnect only without a TTY, and never on a
        // detach: keep the connection, discard output until the process ends.
        monitor.removeAllListeners('data');
        monitor.on('data', () => {});
        monitor.on('error', () => {});
      } else monitor.destroy();
      const end = () => {
        if (!client.destroyed) client.end();
        done();
      };
      if (processDone && opts.beforeEnd) opts.beforeEnd().then(end, end);
      else end();
    };
    monitor.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if ((f.stream === STDOUT && !opts.stdout) || (f.stream === STDERR && !opts.stderr)) continue;
        if (!client.writable) continue;
        const ok = client.write(opts.tty ? f.data : frame(f.stream, f.data));
        if (!ok) {
          monitor.pause();
          client.once('drain', () => monitor.resume());
        }
      }
    });
    monitor.on('end', () => finish(true));
    monitor.on('close', () => finish(true));
    monitor.on('error', () => finish(true));
    const scanner = new DetachScanner(opts.detachKeys);
    client.on('data', (chunk: Buffer) => {
      if (!opts.stdin) return;
      const { pass, detach } = scanner.push(chunk);
      // The monitor reads input at the container's pace: hold the client
      // back while the socket to it is full (nothing is dropped or piled up).
      if (pass.length && monitor.writable && !monitor.write(pass)) {
        client.pause();
        monitor.once('drain', () => client.resume());
      }
      if (detach) finish(false, true);
    });
    client.on('end', () => {
      // The client has no more input (docker half-closes when it has no stdin).
      // Without a TTY the end travels in band: we half-close the monitor
      // socket after the last byte, and the monitor ends the container's
      // stdin (StdinOnce) once all of it is written; output still comes back.
      // On a TTY the end of input is the caller's decision (onStdinEnd).
      if (!opts.stdin || finished) return;
      if (!opts.tty) monitor.end();
      else opts.onStdinEnd?.();
    });
    client.on('close', () => finish(false));
    client.on('error', () => finish(false));
    client.resume();
  });
}

/**
 * The connection for a raw stream: with `Upgrade: tcp` the 101 hijack; without
 * (dockerode's attach, curl) a 200 whose body is the raw stream until the
 * connection closes — no chunked framing, as dockerd answers.
 */
export function takeOver(ctx: RequestContext, contentType: string): Duplex {
  if (ctx.isUpgrade) return ctx.hijack(contentType);
  const res = ctx.res!;
  const socket = res.socket!;
  const headers: Record<string, string> = {};
  for (const name of res.getHeaderNames()) headers[name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase())] = String(res.getHeader(name));
  headers['Content-Type'] = contentType;
  const lines = ['HTTP/1.1 200 OK', ...Object.keys(headers).sort().map((k) => `${k}: ${headers[k]}`), `Date: ${new Date().toUTCString()}`, 'Connection: close', '', ''];
  res.detachSocket(socket);
  socket.write(lines.join('\r\n'));
  // What the client sends from now on is stdin, not HTTP: take the socket
  // away from the server's request parser.
  socket.removeAllListeners('data');
  return socket;
}

export function streamContentType(ctx: RequestContext, tty: boolean): string {
  return tty || !versionAtLeast(ctx.apiVersion, '1.42') ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
}

export function addContainerRoutes(router: Router, deps: ContainerRoutesDeps): void {
  const svc = deps.containers;

  router.post('/containers/create', async (ctx) => {
    const body = await ctx.jsonObject<ContainerCreateRequest>();
    const name = ctx.query.get('name') || undefined;
    const platform = ctx.query.get('platform');
    if (platform && !/^linux(\/|$)/.test(platform)) {
      throw badParam(`invalid platform ${JSON.stringify(platform)}: berth runs linux containers only`);
    }
    if (body.Healthcheck && typeof body.Healthcheck === 'object' && !versionAtLeast(ctx.apiVersion, '1.44')) {
      // StartInterval came with API 1.44: dockerd ignores it from older clients.
      const { StartInterval: _si, ...rest } = body.Healthcheck;
      body.Healthcheck = rest;
    }
    checkRuntimeAndVolumesFrom(svc, body);
    const result = await svc.create(body, name);
    ctx.sendJson(201, { Id: result.Id, Warnings: result.Warnings ?? [] });
  });

  router.get('/containers/json', async (ctx) => {
    const limit = intParam(ctx, 'limit');
    const list = svc.list({
      all: ctx.flag('all') || (limit !== undefined && limit > 0),
      ...(limit !== undefined ? { limit } : {}),
      filters: filtersObject(ctx),
    });
    const withSize = ctx.flag('size');
    const out = [];
    for (const rec of list) out.push(containerSummary(rec, withSize ? await sizes(deps, rec) : {}));
    ctx.sendJson(200, out);
  });

  router.post('/containers/prune', async (ctx) => {
    const filters = filtersObject(ctx);
    for (const key of Object.keys(filters)) {
      if (key !== 'label' && key !== 'label!' && key !== 'until') throw badParam(`invalid filter '${key}'`);
    }
    const until = filters.until?.[0];
    const cutoff = until ? parseTimeFilter(until) : undefined;
    let report: ContainersPruneReport;
    if (cutoff === undefined && !filters['label!']) {
      const r = await svc.prune(filters.label ? { label: filters.label } : {});
      report = { ContainersDeleted: r.ContainersDeleted.length ? r.ContainersDeleted : null, SpaceReclaimed: r.SpaceReclaimed };
    } else {
      // until / label!: pick the candidates here, remove one by one.
      const candidates = svc.list({ all: true, filters: filters.label ? { label: filters.label } : {} }).filter((c) => {
        if (c.State.Running || c.State.Restarting) return false;
        if (cutoff !== undefined && Date.parse(c.Created) / 1000 >= cutoff) return false;
        for (const l of filters['label!'] ?? []) {
          const eq = l.indexOf('=');
          const labels = c.Config.Labels ?? {};
          if (eq < 0 ? l in labels : labels[l.slice(0, eq)] === l.slice(eq + 1)) return false;
        }
        return true;
      });
      const deleted: string[] = [];
      let space = 0;
      for (const c of candidates) {
        space += (await sizes(deps, c)).sizeRw;
        await svc.remove(c.Id, {});
        deleted.push(c.Id);
      }
      report = { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
    }
    ctx.sendJson(200, report);
  });

  router.get('/containers/{id}/json', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    const snap = deps.images.snapshotter;
    const mounts = snap ? await snap.mounts(rec.SnapshotKey).catch(() => undefined) : undefined;
    const extra = ctx.flag('size') ? await sizes(deps, rec) : undefined;
    ctx.sendJson(
      200,
      containerInspect(rec, {
        graphDriver: graphDriver(rec.Driver, mounts, `${svc.dir(rec.Id)}/rootfs`),
        execIds: execIdsOf(svc, rec.Id),
        ...(extra ? { sizeRw: extra.sizeRw, sizeRootFs: extra.sizeRootFs } : {}),
      }),
    );
  });

  router.post('/containers/{id}/start', async (ctx) => {
    if (ctx.query.get('checkpoint')) throw badParam('checkpoints are not supported by berth');
    // A body with a HostConfig was removed from the API in 1.24; an empty body or {} is fine.
    const body = await ctx.json<Record<string, unknown>>();
    if (body && typeof body === 'object' && Object.keys(body).length > 0) {
      throw badParam('starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24');
    }
    try {
      await svc.start(ctx.params.id!);
    } catch (err) {
      if (isNotModified(err)) return bodiless(ctx, 304);
      // Docker removes an AutoRemove container whose start failed: `docker run
      // --rm` waits for condition=removed after reporting the error.
      const rec = svc.store.find(ctx.params.id!);
      if (rec?.HostConfig.AutoRemove && !rec.State.Running) await svc.remove(rec.Id, { force: true }).catch(() => {});
      throw withDockerStartWording(err, rec);
    }
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/stop', async (ctx) => {
    const t = intParam(ctx, 't');
    const signal = ctx.query.get('signal') || undefined;
    const result = await svc.stop(ctx.params.id!, { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
    bodiless(ctx, result === 'not-running' ? 304 : 204);
  });

  router.post('/containers/{id}/restart', async (ctx) => {
    const t = intParam(ctx, 't');
    const signal = ctx.query.get('signal') || undefined;
    await svc.restart(ctx.params.id!, { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/kill', async (ctx) => {
    await svc.kill(ctx.params.id!, ctx.query.get('signal') || undefined);
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/pause', async (ctx) => {
    await svc.pause(ctx.params.id!);
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/unpause', async (ctx) => {
    await svc.unpause(ctx.params.id!);
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/wait', async (ctx) => {
    const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    // Resolves the container and validates the condition before any header goes out.
    const result = svc.wait(ctx.params.id!, condition);
    const res = ctx.res!;
    // Headers first (the client knows the wait is registered and may start the
    // container), the body when the container exits — as dockerd streams it.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let gone = false;
    res.on('close', () => (gone = true));
    const { StatusCode } = await result;
    if (gone) return;
    res.end(JSON.stringify({ Error: null, StatusCode }) + '\n');
  });

  router.delete('/containers/{id}', async (ctx) => {
    if (ctx.flag('link')) throw badParam('legacy links are not supported by berth');
    await svc.remove(ctx.params.id!, { force: ctx.flag('force'), volumes: ctx.flag('v') });
    bodiless(ctx, 204);
  });

  router.get('/containers/{id}/logs', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    const stdout = ctx.flag('stdout');
    const stderr = ctx.flag('stderr');
    if (!stdout && !stderr) throw badParam('Bad parameters: you must choose at least one stream');
    const tailRaw = ctx.query.get('tail');
    let tail: number | undefined;
    // dockerd: whatever is not an integer ("all", "bogus") means every line.
    if (tailRaw !== null && /^[-+]?\d+$/.test(tailRaw)) {
      tail = Number(tailRaw) < 0 ? undefined : Number(tailRaw);
    }
    const sinceRaw = ctx.query.get('since');
    const untilRaw = ctx.query.get('until');
    const since = sinceRaw && sinceRaw !== '0' ? parseTimeFilter(sinceRaw) : undefined;
    const until = untilRaw && untilRaw !== '0' ? parseTimeFilter(untilRaw) : undefined;
    const timestamps = ctx.flag('timestamps');
    const abort = new AbortController();
    const entries = svc.logs(rec.Id, {
      follow: ctx.flag('follow'),
      ...(tail !== undefined ? { tail } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      signal: abort.signal,
    });
    const res = ctx.res!;
    res.on('close', () => abort.abort());
    const tty = !!rec.Config.Tty;
    res.writeHead(200, versionAtLeast(ctx.apiVersion, '1.42') ? { 'Content-Type': streamContentType(ctx, tty) } : {});
    res.flushHeaders();
    try {
      for await (const e of entries) {
        if (res.destroyed) break;
        if ((e.stream === 'stdout' && !stdout) || (e.stream === 'stderr' && !stderr)) continue;
        const text = timestamps ? `${e.time} ${e.log}` : e.log;
        const data = Buffer.from(text, 'utf8');
        if (!res.write(tty ? data : frame(e.stream === 'stderr' ? STDERR : STDOUT, data))) {
          await new Promise((r) => res.once('drain', r));
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
    if (!res.destroyed) res.end();
  });

  const attach = async (ctx: RequestContext) => {
    const rec = svc.get(ctx.params.id!);
    const detachKeys = parseDetachKeys(ctx.query.get('detachKeys') ?? undefined);
    const stdin = ctx.flag('stdin');
    const stdout = ctx.flag('stdout');
    const stderr = ctx.flag('stderr');
    const logs = ctx.flag('logs');
    const stream = ctx.flag('stream');
    if (!stream && !logs) throw badParam('Bad parameters: you must choose at least one stream');
    const tty = !!rec.Config.Tty;
    // Registered before the 101 goes out, so a start right after cannot be missed.
    const monitor = stream ? svc.attach(rec.Id) : undefined;
    monitor?.catch(() => {});
    const client = takeOver(ctx, streamContentType(ctx, tty));
    if (stream) svc.publish(rec, 'attach');
    if (logs) {
      for await (const e of svc.logs(rec.Id, {})) {
        if ((e.stream === 'stdout' && !stdout) || (e.stream === 'stderr' && !stderr)) continue;
        const data = Buffer.from(e.log, 'utf8');
        client.write(tty ? data : frame(e.stream === 'stderr' ? STDERR : STDOUT, data));
      }
    }
    if (!monitor) {
      client.end();
      return;
    }
    // The client may go away while we wait for a start that never comes.
    let clientGone = false;
    const onGone = () => (clientGone = true);
    client.once('close', onGone);
    let sock: Socket;
    try {
      sock = await monitor;
    } catch {
      client.end();
      return;
    }
    client.off('close', onGone);
    if (clientGone || client.destroyed) {
      sock.destroy();
      return;
    }
    await pumpAttach(client, sock, {
      tty,
      stdout,
      stderr,
      stdin,
      detachKeys,
      // Docker closes the container's stdin when the client's input ends only
      // without a TTY (the monitor does, for StdinOnce); on a TTY the client
      // going away is not an EOF.
    });
  };
  router.post('/containers/{id}/attach', attach);

  router.post('/containers/{id}/resize', async (ctx) => {
    const h = intParam(ctx, 'h') ?? 0;
    const w = intParam(ctx, 'w') ?? 0;
    if (h < 0 || w < 0) throw badParam('invalid terminal size: height and width must be positive');
    await svc.resize(ctx.params.id!, h, w);
    ctx.sendStatus(200);
  });

  router.post('/containers/{id}/rename', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw badParam('Neither old nor new names may be empty');
    await svc.rename(ctx.params.id!, name);
    bodiless(ctx, 204);
  });

  router.post('/containers/{id}/update', async (ctx) => {
    const body = await ctx.jsonObject<ContainerUpdateRequest>();
    const rec = svc.get(ctx.params.id!);
    const warnings = await updateContainer(svc, rec, body);
    svc.publish(rec, 'update');
    ctx.sendJson(200, { Warnings: warnings.length ? warnings : null });
  });

  // --- docker cp -------------------------------------------------------------

  const withRootfs = async <T>(ref: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T> => {
    const rec = svc.get(ref);
    const fs = await svc.rootfs(rec.Id);
    try {
      return await fn(fs.path, rec);
    } finally {
      await fs.release();
    }
  };
  const archivePath = (ctx: RequestContext): string => {
    const p = ctx.query.get('path');
    if (!p) throw badParam('Bad parameter: path cannot be empty');
    return p;
  };

  router.head('/containers/{id}/archive', async (ctx) => {
    const path = archivePath(ctx);
    const stat = await withRootfs(ctx.params.id!, (root) => statContainerPath(root, path, { container: ctx.params.id! }));
    const res = ctx.res!;
    res.writeHead(200, { 'X-Docker-Container-Path-Stat': encodePathStatHeader(stat), 'Content-Length': 0 });
    res.end();
  });

  router.get('/containers/{id}/archive', async (ctx) => {
    const path = archivePath(ctx);
    const rec = svc.get(ctx.params.id!);
    const fs = await svc.rootfs(rec.Id);
    let result;
    try {
      result = await getArchive(fs.path, path, { container: ctx.params.id! });
    } catch (err) {
      await fs.release();
      throw err;
    }
    const res = ctx.res!;
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': encodePathStatHeader(result.stat) });
    res.on('close', () => result.tar.destroy());
    result.tar.on('close', () => void fs.release());
    result.tar.on('error', () => res.destroy());
    result.tar.pipe(res);
  });

  router.put('/containers/{id}/archive', async (ctx) => {
    const path = archivePath(ctx);
    await withRootfs(ctx.params.id!, (root, rec) =>
      putArchive(root, path, ctx.body(), {
        container: ctx.params.id!,
        noOverwriteDirNonDir: ctx.flag('noOverwriteDirNonDir'),
        copyUIDGID: ctx.flag('copyUIDGID'),
        ...(rec.Config.User ? { user: rec.Config.User } : {}),
      }),
    );
    ctx.sendStatus(200);
  });
}

/** top, stats, changes (diff), export and commit: the container's data as Docker shows it. */
export function addContainerDataRoutes(router: Router, deps: ContainerRoutesDeps): void {
  const svc = deps.containers;

  router.get('/containers/{id}/top', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    if (!rec.State.Running) throw new BerthError('BERTH_CONTAINER_NOT_RUNNING', `Container ${rec.Id} is not running`, { status: 409 });
    const cgroup = svc.cgroupOf(rec.Id);
    const pids = cgroup ? await cgroup.processes() : [rec.State.Pid];
    ctx.sendJson(200, await topProcesses(pids, ctx.query.get('ps_args') ?? '-ef'));
  });

  router.get('/containers/{id}/stats', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    const stream = ctx.query.get('stream') === null ? true : ctx.flag('stream');
    const oneShot = ctx.flag('one-shot');
    const res = ctx.res!;
    const onlineCpus = cpus().length;
    const sample = async (previous: PreviousStats | undefined) => {
      const current = svc.get(rec.Id);
      const cgroup = current.State.Running ? svc.cgroupOf(rec.Id) : undefined;
      const stats = cgroup ? await cgroup.stats().catch(() => ({})) : {};
      const system = systemCpuUsageNs();
      const read = new Date().toISOString();
      const json = dockerStats(stats, previous, {
        id: rec.Id,
        name: current.Name,
        onlineCpus: cgroup ? onlineCpus : 0,
        system: cgroup ? system : 0,
        read: cgroup ? read : '0001-01-01T00:00:00Z',
        ...(cgroup ? { cgroupVersion: cgroup.version } : {}),
      });
      return { json, next: { cgroup: stats, system, read } as PreviousStats, running: !!cgroup };
    };
    if (!stream) {
      let first = await sample(undefined);
      // Docker fills precpu_stats from a sample a second earlier unless one-shot.
      if (!oneShot && first.running) {
        await new Promise((r) => setTimeout(r, 1000));
        first = await sample(first.next);
      }
      ctx.sendJson(200, first.json);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    res.on('close', () => (closed = true));
    let previous: PreviousStats | undefined;
    while (!closed) {
      const s = await sample(previous);
      previous = s.next;
      res.write(JSON.stringify(s.json) + '\n');
      if (!s.running && svc.store.find(rec.Id) === undefined) break;
      await new Promise((r) => setTimeout(r, 1000));
      if (!svc.store.find(rec.Id)) break;
    }
    if (!res.destroyed) res.end();
  });

  router.get('/containers/{id}/changes', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    const snap = deps.images.snapshotter;
    if (!snap) throw new BerthError('BERTH_CONTAINER_NO_SNAPSHOTTER', 'no snapshotter: changes are unknown', { status: 500 });
    let changes = await containerChanges(snap, rec.SnapshotKey);
    // /etc/hostname, hosts and resolv.conf are mount points berth creates (Docker
    // keeps them in an init layer below the container's): not the user's changes.
    const ours = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
    const mine = changes.filter((c) => !(ours.has(c.Path) && c.Kind === 1));
    if (mine.length !== changes.length && !mine.some((c) => c.Path.startsWith('/etc/'))) {
      changes = mine.filter((c) => !(c.Path === '/etc' && c.Kind === 0));
    } else changes = mine;
    ctx.sendJson(200, changes.length ? changes : null);
  });

  router.get('/containers/{id}/export', async (ctx) => {
    const rec = svc.get(ctx.params.id!);
    const fs = await svc.rootfs(rec.Id);
    let tar;
    try {
      tar = await exportContainer(fs.path);
    } catch (err) {
      await fs.release();
      throw err;
    }
    const res = ctx.res!;
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    res.on('close', () => tar.destroy());
    tar.on('close', () => void fs.release());
    tar.on('error', () => res.destroy());
    tar.pipe(res);
  });

  router.post('/commit', async (ctx) => {
    const ref = ctx.query.get('container');
    if (!ref) throw badParam('Bad parameter: container is required');
    const rec = svc.get(ref);
    const snap = deps.images.snapshotter;
    if (!snap) throw new BerthError('BERTH_CONTAINER_NO_SNAPSHOTTER', 'no snapshotter: cannot commit', { status: 500 });
    const body = (await ctx.json<ContainerConfig>()) ?? undefined;
    const repo = ctx.query.get('repo');
    const tag = ctx.query.get('tag');
    const pause = ctx.query.get('pause') === null ? true : ctx.flag('pause');
    const paused = pause && rec.State.Running && !rec.State.Paused;
    if (paused) await svc.pause(rec.Id);
    try {
      const result = await commitContainer({
        images: deps.images,
        snapshotter: snap,
        snapshotKey: rec.SnapshotKey,
        baseImageId: rec.Image,
        containerConfig: rec.Config,
        ...(body && typeof body === 'object' ? { config: body } : {}),
        changes: ctx.query.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim() !== ''),
        ...(ctx.query.get('author') ? { author: ctx.query.get('author')! } : {}),
        ...(ctx.query.get('comment') ? { comment: ctx.query.get('comment')! } : {}),
        ...(repo ? { reference: tag ? `${repo}:${tag}` : repo } : {}),
        containerId: rec.Id,
      });
      // dockerd's events, while the container is still paused: the new tag, then the commit.
      const imageRef = result.tag ? familiarString(parseReference(result.tag)) : '';
      if (imageRef) deps.events?.emit('image', 'tag', result.id, { name: imageRef });
      svc.publish(rec, 'commit', { comment: ctx.query.get('comment') ?? '', imageID: result.id, imageRef });
      ctx.sendJson(201, { Id: result.id });
    } finally {
      if (paused) await svc.unpause(rec.Id).catch(() => {});
    }
  });
}

/**
 * Create-time checks dockerd makes: the runtime is one /info lists, and each
 * --volumes-from names a container with a valid mode. A missing container is
 * a 400 here, not dockerd's 404: the docker CLI takes any 404 from create for
 * a missing image and goes to pull it.
 */
function checkRuntimeAndVolumesFrom(svc: ContainerService, body: ContainerCreateRequest): void {
  const hc = body?.HostConfig;
  if (hc?.Runtime && !(hc.Runtime in RUNTIMES)) throw badParam(`unknown or invalid runtime name: ${hc.Runtime}`);
  for (const spec of hc?.VolumesFrom ?? []) {
    const { ref } = parseVolumesFrom(spec);
    if (!svc.store.find(ref)) throw badParam(`No such container: ${ref}`);
  }
}

/**
 * POST /containers/{id}/update: change resource limits on the live cgroup
 * and in the record (so the next start applies them), and the restart policy.
 */
async function updateContainer(svc: ContainerService, rec: ContainerRecord, body: ContainerUpdateRequest): Promise<string[]> {
  const known = new Set([
    'Memory', 'MemoryReservation', 'MemorySwap', 'NanoCpus', 'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems',
    'PidsLimit', 'BlkioWeight', 'RestartPolicy',
  ]);
  const hc = { ...rec.HostConfig };
  const changed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || v === null) continue;
    // Clients send every resource field with zero values: zero means "unchanged" (as Docker reads it).
    if (!known.has(k)) {
      if (v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v).length === 0) || v === false) continue;
      throw badParam(`berth cannot update ${k} of a container (updatable: ${[...known].join(', ')})`);
    }
    if (k === 'RestartPolicy') {
      const rp = v as NonNullable<ContainerUpdateRequest['RestartPolicy']>;
      if (!rp.Name) continue;
      if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(rp.Name)) throw badParam(`invalid restart policy '${rp.Name}'`);
      if (rec.HostConfig.AutoRemove && rp.Name !== 'no') throw badParam('Restart policy cannot be updated because AutoRemove is enabled for the container');
      changed.RestartPolicy = { Name: rp.Name, MaximumRetryCount: rp.MaximumRetryCount ?? 0 };
      continue;
    }
    if (v === 0 || v === '') continue;
    if (typeof v === 'number' && v < 0 && k !== 'MemorySwap' && k !== 'PidsLimit') throw badParam(`invalid value for ${k}: ${v}`);
    changed[k] = v;
  }
  if (typeof changed.NanoCpus === 'number' && (changed.CpuQuota || changed.CpuPeriod)) {
    throw badParam('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  }
  Object.assign(hc, changed);
  validateResources(hc);
  const cgroup = rec.State.Running ? svc.cgroupOf(rec.Id) : undefined;
  if (cgroup) {
    const period = hc.CpuPeriod || 100000;
    await cgroup.update({
      ...(changed.Memory !== undefined || changed.MemorySwap !== undefined
        ? { memory: { ...(hc.Memory ? { limit: hc.Memory } : {}), ...(hc.MemorySwap ? { swap: hc.MemorySwap } : hc.Memory ? { swap: hc.Memory * 2 } : {}) } }
        : {}),
      ...(changed.NanoCpus !== undefined || changed.CpuShares !== undefined || changed.CpuQuota !== undefined || changed.CpuPeriod !== undefined || changed.CpusetCpus !== undefined
        ? {
            cpu: {
              ...(hc.CpuShares ? { shares: hc.CpuShares } : {}),
              ...(hc.NanoCpus ? { quota: Math.round((hc.NanoCpus * period) / 1e9), period } : hc.CpuQuota ? { quota: hc.CpuQuota, period } : {}),
              ...(hc.CpusetCpus ? { cpus: hc.CpusetCpus } : {}),
              ...(hc.CpusetMems ? { mems: hc.CpusetMems } : {}),
            },
          }
        : {}),
      ...(changed.PidsLimit !== undefined ? { pids: { limit: Number(hc.PidsLimit) > 0 ? Number(hc.PidsLimit) : -1 } } : {}),
    });
  }
  rec.HostConfig = hc;
  await svc.store.save(rec);
  return [];
}
