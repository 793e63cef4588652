/**
 * Containers: create, start, stop, kill, wait, remove, list, inspect, logs,
 * attach, pause, rename, restart policies — the engine side of Docker's
 * container endpoints. State lives on disk (store.ts); the process lives with
 * its berth-monitor (monitor.ts), which outlives berthd: on open, running
 * containers are found again and watched (live restore).
 */
import { join } from 'node:path';
import { constants as osConstants, hostname as osHostname } from 'node:os';
import type { Socket } from 'node:net';
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { ContainerCreateRequest, ContainerConfig, HostConfig } from '../api/container-types.ts';
import type { ContainerConfig as ImageRunConfig } from '../oci/image-spec.ts';
import type { ImageService } from '../image/service.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { BerthError, conflict, invalidArgument } from '../common/errors.ts';
import type { EventHub } from '../api/events.ts';
import { writeJsonAtomic } from '../common/atomic-write.ts';
import { ContainerStore, initialState, validateName, ZERO_TIME, type ContainerRecord } from './store.ts';
import { buildContainerSpec, containerArgs, containerCapabilities, parseSecurityOpts, cgroupsPathFor } from './oci-spec.ts';
import { resolveMounts, volumesFromSources } from './mounts.ts';
import { removeAnonymousVolumes } from './volumes.ts';
import { checkNetworkMode, joinContainerNetwork } from '../network/builtin.ts';
import { resolveUser } from './user.ts';
import { resolveDevices, hostDevices } from './devices.ts';
import { writeEtcFiles } from './etc-files.ts';
import { prepareProcess, unmountRootfs, mountRootfs, type PreparedProcess } from './runner.ts';
import { validateResources } from './resources.ts';
import { checkNamespaceModes, namespacesToJoin } from './namespace-modes.ts';
import { computePlan } from '../runtime/plan.ts';
import { launcherPath, followLauncher } from '../runtime/launcher.ts';
import { spawnMonitor, MonitorPool } from './monitor.ts';
import type { Spec, Process } from '../oci/runtime-spec.ts';
import { randomBytes } from 'node:crypto';
import { watchExit, connectControl, readExitStatus, reapExecDirs, attach as attachMonitor, resizeTty, closeStdin, type ExitStatus } from './monitor.ts';
import { readLogs, type LogEntry } from './logs.ts';
import { changesSize } from '../snapshot/diff.ts';
import { HealthChecker, checkHealthFilter, healthStatusOf, mergeHealthcheck, validateHealthcheck } from './health.ts';
import { createCgroupManager, detectCgroupLayout, type CgroupManager } from '../runtime/cgroups/index.ts';
import { ownBoundingCapabilities } from '../runtime/capabilities.ts';
import { defaultSeccompProfile, seccompFromDockerProfile } from '../runtime/seccomp/index.ts';

export interface ContainerServiceOptions {
  dataRoot: string;
  images: ImageService;
  events: Pick<EventHub, 'emit'>;
  /** Log rotation defaults (Docker's json-file grows unbounded; berth's does not). */
  logMaxSize?: number;
  logMaxFiles?: number;
  /** Path of berth-init, for --init. */
  initBinary?: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface ListOptions {
  all?: boolean;
  limit?: number;
  filters?: Record<string, string[]>;
}

interface Live {
  cgroup: CgroupManager;
  exited: Promise<void>;
}

type Waiter = { condition: WaitCondition; resolve: (r: { StatusCode: number }) => void };

/** What `docker exec` asks for (POST /containers/{id}/exec). */
export interface ExecConfig {
  Cmd: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

/** An exec instance, as GET /exec/{id}/json reports it (kept in memory, as Docker does). */
export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  /** Set once started: resolves when the process has exited. */
  exited?: Promise<void>;
}

const DEFAULT_STOP_TIMEOUT = 10;

/** "SIGTERM", "TERM", "15" → 15. */
export function parseSignal(sig: string | number | undefined, fallback = 'SIGKILL'): number {
  const raw = sig === undefined || sig === '' ? fallback : String(sig);
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n < 1 || n > 64) throw invalidArgument('BERTH_CONTAINER_BAD_SIGNAL', `Invalid signal: ${raw}`);
    return n;
  }
  const name = raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`;
  const n = (osConstants.signals as Record<string, number>)[name];
  if (n === undefined) throw invalidArgument('BERTH_CONTAINER_BAD_SIGNAL', `Invalid signal: ${raw}`);
  return n;
}

/** Docker's create-time merge of the image's run config under the user's. */
export function mergeConfig(user: ContainerConfig, image: ImageRunConfig | undefined, id: string): ContainerConfig {
  const asList = (v: string[] | string | null | undefined) => (v === undefined || v === null ? undefined : typeof v === 'string' ? [v] : v);
  const userEntrypoint = asList(user.Entrypoint);
  const userCmd = asList(user.Cmd);
  const env = new Map<string, string>();
  for (const e of [...(image?.Env ?? []), ...(user.Env ?? [])]) {
    const eq = e.indexOf('=');
    env.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  const merged: ContainerConfig = {
    ...user,
    Hostname: user.Hostname || id.slice(0, 12),
    Env: [...env.values()],
    // `--entrypoint ""` arrives as [""]: it drops the image's entrypoint and
    // Cmd like any entrypoint, then is reset to none (dockerd does the same).
    Entrypoint: userEntrypoint?.length === 1 && userEntrypoint[0] === '' ? null : (userEntrypoint ?? image?.Entrypoint ?? null),
    Cmd: userCmd ?? (userEntrypoint !== undefined ? null : (image?.Cmd ?? null)),
    WorkingDir: user.WorkingDir || image?.WorkingDir || '',
    User: user.User || image?.User || '',
    Labels: { ...(image?.Labels ?? {}), ...(user.Labels ?? {}) },
    ExposedPorts: { ...(image?.ExposedPorts ?? {}), ...(user.ExposedPorts ?? {}) },
    Volumes: { ...(image?.Volumes ?? {}), ...(user.Volumes ?? {}) },
    ...(user.StopSignal || image?.StopSignal ? { StopSignal: user.StopSignal || image?.StopSignal } : {}),
    AttachStdin: !!user.AttachStdin,
    AttachStdout: !!user.AttachStdout,
    AttachStderr: !!user.AttachStderr,
    Tty: !!user.Tty,
    OpenStdin: !!user.OpenStdin,
    StdinOnce: !!user.StdinOnce,
  };
  const healthcheck = mergeHealthcheck(user.Healthcheck, image?.Healthcheck);
  if (healthcheck) merged.Healthcheck = healthcheck;
  if (image?.OnBuild) merged.OnBuild = image.OnBuild;
  return merged;
}

export class ContainerService {
  readonly store: ContainerStore;
  private readonly opts: ContainerServiceOptions;
  private readonly snapshotter: Snapshotter;
  private readonly live = new Map<string, Live>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Attach clients waiting for a created container to start (docker run attaches before start). */
  private readonly pendingAttach = new Map<string, Array<(dir: string) => Promise<void>>>();
  private readonly cgroupV2: boolean;
  /** Containers with a start, stop or removal in progress (one at a time each). */
  private readonly busy = new Map<string, Promise<unknown>>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly execs = new Map<string, ExecRecord>();
  private closing = false;
  /** /run/berth/m/<hash of the data root>: short, per engine, gone at reboot like the monitors. */
  private readonly socketRoot: string;
  /** A monitor started ahead of the next container start (see MonitorPool). */
  private readonly monitors = new MonitorPool();
  /** Health checks of running containers (health.ts). */
  readonly health: HealthChecker;

  private constructor(store: ContainerStore, opts: ContainerServiceOptions, snapshotter: Snapshotter) {
    this.store = store;
    this.opts = opts;
    this.snapshotter = snapshotter;
    this.health = new HealthChecker({ execs: this, find: (id) => this.store.find(id), publish: (rec, action) => this.publish(rec, action) });
    this.cgroupV2 = detectCgroupLayout().mode === 'v2';
    this.socketRoot = join('/run/berth/m', createHash('sha256').update(opts.dataRoot).digest('hex').slice(0, 12));
  }

  /** Where a container's monitor sockets live. */
  socketDir(id: string): string {
    return join(this.socketRoot, id);
  }

  static async open(opts: ContainerServiceOptions): Promise<ContainerService> {
    const snapshotter = opts.images.snapshotter;
    if (!snapshotter) throw new BerthError('BERTH_CONTAINER_NO_SNAPSHOTTER', 'containers need a snapshotter');
    const store = await ContainerStore.open(opts.dataRoot);
    const svc = new ContainerService(store, opts, snapshotter);
    opts.images.setContainersUsing((imageId) =>
      svc.store.list().filter((c) => c.Image === imageId).map((c) => ({ id: c.Id, running: c.State.Running })),
    );
    await svc.restore();
    svc.monitors.fill();
    return svc;
  }

  /** Find containers that ran when berthd stopped: still running ones are watched again, the others get their exit recorded. */
  private async restore(): Promise<void> {
    const restarts: ContainerRecord[] = [];
    for (const rec of this.store.list()) {
      await reapExecDirs(join(this.store.dir(rec.Id), 'exec'), (execId) => this.socketDir(execId));
      if (!rec.State.Running) {
        if (rec.State.Status === 'restarting' || this.wantsRestartAfterDaemonStart(rec)) {
          // Started again by the daemon, it is no longer "stopped by the user" (dockerd resets that too).
          rec.StoppedByUser = false;
          restarts.push(rec);
        }
        continue;
      }
      const dir = this.store.dir(rec.Id);
      const sock = await connectControl(this.socketDir(rec.Id));
      if (sock) {
        sock.destroy();
        const cgroup = createCgroupManager(cgroupsPathFor(rec.Id, rec.HostConfig));
        this.watch(rec, cgroup);
        this.health.start(rec);
      } else {
        const status = (await readExitStatus(dir)) ?? { exitCode: 255, signal: 0, finishedAt: new Date().toISOString() };
        const cgroup = createCgroupManager(cgroupsPathFor(rec.Id, rec.HostConfig));
        await this.recordExit(rec, status, cgroup);
        if (this.restartPolicyApplies(rec)) restarts.push(rec);
      }
    }
    for (const rec of restarts) this.scheduleRestart(rec, 0);
  }

  private wantsRestartAfterDaemonStart(rec: ContainerRecord): boolean {
    // Docker: an `always` container is started again with the daemon even
    // after a manual stop (`unless-stopped` is the one that stays down).
    const name = rec.HostConfig.RestartPolicy?.Name;
    return (name === 'always' || (name === 'unless-stopped' && !rec.StoppedByUser)) && rec.State.StartedAt !== ZERO_TIME;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    await this.health.close();
    await this.monitors.close();
    await this.store.settle();
    await this.snapshotter.settle();
    // Only when no monitor of ours is left: their sockets live in there.
    await rmdir(this.socketRoot).catch(() => {});
    // The shared /berth cgroup parent goes when no container of any engine is left in it.
    for (const m of detectCgroupLayout().mounts) await rmdir(join(m.mountPoint, 'berth')).catch(() => {});
  }

  /** A container event with dockerd's attributes (image, name, labels, extra); also for the API's update, commit and attach. */
  publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.opts.events.emit('container', action, rec.Id, {
      image: rec.Config.Image ?? rec.Image,
      name: rec.Name.slice(1),
      ...(rec.Config.Labels ?? {}),
      ...extra,
    });
  }

  private async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    while (this.busy.has(id)) await this.busy.get(id)!.catch(() => {});
    const p = fn();
    this.busy.set(id, p);
    try {
      return await p;
    } finally {
      if (this.busy.get(id) === p) this.busy.delete(id);
    }
  }

  // --- create --------------------------------------------------------------

  async create(req: ContainerCreateRequest, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    if (!req || typeof req !== 'object') throw invalidArgument('BERTH_CONTAINER_BAD_CONFIG', 'config cannot be empty in order to create a container');
    if (!req.Image) throw invalidArgument('BERTH_CONTAINER_BAD_CONFIG', 'Config.Image: no image specified');
    validateHealthcheck(req.Healthcheck);
    const hostConfig: HostConfig = req.HostConfig ?? {};
    const network = hostConfig.NetworkMode || 'default';
    checkNetworkMode(req, hostConfig, (ref) => this.store.find(ref));
    checkNamespaceModes(req, hostConfig, (ref) => this.store.find(ref));
    const restart = hostConfig.RestartPolicy?.Name ?? '';
    if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(restart)) {
      throw invalidArgument('BERTH_CONTAINER_BAD_RESTART', `invalid restart policy '${restart}'`);
    }
    if (hostConfig.AutoRemove && restart && restart !== 'no') {
      throw conflict('BERTH_CONTAINER_BAD_RESTART', 'Conflicting options: AutoRemove and restart policy');
    }
    const image = await this.opts.images.imageForContainer(req.Image);
    const id = this.store.newId();
    const containerName = name ? validateName(name) : this.store.generateName();
    const { HostConfig: _h, NetworkingConfig: _n, Platform: _p, ...userConfig } = req;
    const config = mergeConfig(userConfig, image.config.config, id);
    // The host's network or UTS namespace: the container has the host's name (dockerd does the same).
    if (!req.Hostname && (network === 'host' || hostConfig.UTSMode === 'host')) config.Hostname = osHostname();
    const warnings: string[] = [];
    if ((hostConfig.PortBindings && Object.keys(hostConfig.PortBindings).length) || hostConfig.PublishAllPorts) {
      warnings.push(network === 'host'
        ? 'Published ports are discarded when using host network mode'
        : 'Published ports are discarded: berth has no bridge networking yet (the container has loopback only; use --network host)');
    }
    // Refuse what cannot start now rather than at start: no command, bad options.
    const args = containerArgs(config, undefined);
    parseSecurityOpts(hostConfig.SecurityOpt);
    containerCapabilities(hostConfig, ownBoundingCapabilities());
    validateResources(hostConfig);
    this.store.claimName(containerName, id);
    const dir = this.store.dir(id);
    try {
      const snapshotKey = `container-${id}`;
      await this.snapshotter.prepare(snapshotKey, image.chainId, { labels: { 'berth.container': id } });
      const etc = await writeEtcFiles(dir, { hostname: config.Hostname!, ...(config.Domainname ? { domainname: config.Domainname } : {}), hostConfig });
      const rec: ContainerRecord = {
        Id: id,
        Name: containerName,
        Created: new Date().toISOString(),
        Path: '',
        Args: [],
        Config: config,
        HostConfig: { ...hostConfig, NetworkMode: network === 'default' ? 'none' : network, LogConfig: this.logConfig(hostConfig) },
        Image: image.id,
        State: initialState(),
        RestartCount: 0,
        SnapshotKey: snapshotKey,
        MonitorPid: 0,
        Platform: 'linux',
        Driver: this.snapshotter.name === 'overlayfs' ? 'overlay2' : 'vfs',
        LogPath: join(dir, `${id}-json.log`),
        ResolvConfPath: etc.resolvConf,
        HostnamePath: etc.hostname,
        HostsPath: etc.hosts,
      };
      rec.Path = args[0]!;
      rec.Args = args.slice(1);
      await this.store.save(rec);
      this.publish(rec, 'create');
      return { Id: id, Warnings: warnings };
    } catch (err) {
      this.store.releaseName(containerName);
      await this.snapshotter.remove(`container-${id}`).catch(() => {});
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private logConfig(hc: HostConfig): { Type: string; Config: Record<string, string> } {
    const type = hc.LogConfig?.Type || 'json-file';
    if (type !== 'json-file' && type !== 'none') {
      throw invalidArgument('BERTH_CONTAINER_BAD_LOG_DRIVER', `logging driver "${type}" is not supported (json-file, none)`);
    }
    const cfg = { ...(hc.LogConfig?.Config ?? {}) };
    for (const k of Object.keys(cfg)) {
      if (k !== 'max-size' && k !== 'max-file') throw invalidArgument('BERTH_CONTAINER_BAD_LOG_OPT', `unknown log opt '${k}' for json-file log driver`);
    }
    return { Type: type, Config: cfg };
  }

  private logSettings(rec: ContainerRecord): { path: string; maxSize: number; maxFiles: number } {
    const cfg = rec.HostConfig.LogConfig?.Config ?? {};
    return {
      path: rec.LogPath,
      maxSize: cfg['max-size'] ? parseSize(cfg['max-size']) : (this.opts.logMaxSize ?? 10 * 1024 * 1024),
      maxFiles: cfg['max-file'] ? Math.max(1, Number(cfg['max-file'])) : (this.opts.logMaxFiles ?? 3),
    };
  }

  // --- start ---------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.exclusive(rec.Id, () => this.startLocked(rec));
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    if (rec.State.Running) {
      throw new BerthError('BERTH_CONTAINER_ALREADY_STARTED', 'container already started', { status: 304 });
    }
    if (rec.State.Status === 'removing' || rec.State.Dead) {
      throw conflict('BERTH_CONTAINER_REMOVING', `container ${rec.Id} is marked for removal and cannot be started`);
    }
    const dir = this.store.dir(rec.Id);
    const hc = rec.HostConfig;
    let prepared: PreparedProcess | undefined;
    try {
      // A previous run's status must not be mistaken for this one's.
      await rm(join(dir, 'exit.json'), { force: true });
      prepared = await prepareProcess({
        dir,
        socketDir: this.socketDir(rec.Id),
        rootfsMounts: await this.snapshotter.mounts(rec.SnapshotKey),
        tty: !!rec.Config.Tty,
        openStdin: !!rec.Config.OpenStdin,
        stdinOnce: !!rec.Config.StdinOnce,
        log: this.logSettings(rec),
        pool: this.monitors,
      });
      const rootfs = prepared.rootfs;
      const user = resolveUser(rootfs, rec.Config.User, (hc.GroupAdd ?? []).filter(Boolean));
      const resolved = await resolveMounts(this.opts.dataRoot, hc, rec.Config.Volumes ?? undefined, {
        rootfs,
        copyUp: rec.State.StartedAt === ZERO_TIME,
        events: this.opts.events,
        containerId: rec.Id,
        previous: { records: rec.MountPoints ?? [], anonymousVolumes: rec.AnonymousVolumes ?? [] },
        volumesFrom: await volumesFromSources(this.opts.dataRoot, hc.VolumesFrom, {
          find: (ref) => this.store.find(ref),
          save: (other) => this.store.save(other),
          rootfs,
          events: this.opts.events,
        }),
      });
      const netnsPath = joinContainerNetwork(rec, (ref) => this.store.find(ref));
      const joined = namespacesToJoin(rec, (ref) => this.store.find(ref));
      const allCaps = ownBoundingCapabilities();
      const caps = containerCapabilities(hc, allCaps);
      const sec = parseSecurityOpts(hc.SecurityOpt);
      const seccomp =
        sec.seccomp === 'unconfined'
          ? undefined
          : sec.seccomp === 'default'
            ? defaultSeccompProfile(caps)
            : seccompFromDockerProfile(sec.seccomp.profileJson, { capabilities: caps });
      let initPath: string | undefined;
      if (hc.Init) {
        if (!this.opts.initBinary) throw new BerthError('BERTH_CONTAINER_NO_INIT', '--init: berth-init is not installed');
        resolved.oci.push({ destination: '/sbin/docker-init', type: 'bind', source: this.opts.initBinary, options: ['rbind', 'ro'] });
        initPath = '/sbin/docker-init';
      }
      const spec = buildContainerSpec({
        id: rec.Id,
        rootfsPath: rootfs,
        config: rec.Config,
        hostConfig: hc,
        image: undefined,
        user,
        etcFiles: { hostname: rec.HostnamePath, hosts: rec.HostsPath, resolvConf: rec.ResolvConfPath },
        userMounts: resolved.oci,
        devices: hc.Privileged ? await hostDevices() : await resolveDevices(hc.Devices),
        seccomp,
        allCapabilities: allCaps,
        cgroupV2: this.cgroupV2,
        ...(initPath ? { initPath } : {}),
        ...(netnsPath ? { netnsPath } : {}),
        ...(joined.pid ? { pidnsPath: joined.pid } : {}),
        ...(joined.ipc ? { ipcnsPath: joined.ipc } : {}),
      });
      // The bundle's config.json, for `berth-runtime` and for people debugging
      // (rewritten at every start: no need to survive a power loss).
      await writeJsonAtomic(join(dir, 'config.json'), spec, { durable: false });
      rec.MountPoints = resolved.records;
      rec.AnonymousVolumes = resolved.anonymousVolumes;
      const attachers = this.pendingAttach.get(rec.Id) ?? [];
      this.pendingAttach.delete(rec.Id);
      const started = await prepared.start(spec, async (d) => {
        await Promise.all(attachers.map((a) => a(d)));
      });
      rec.State = {
        ...rec.State,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: started.pid,
        ExitCode: 0,
        Error: '',
        StartedAt: new Date().toISOString(),
        FinishedAt: ZERO_TIME,
      };
      rec.MonitorPid = started.monitorPid;
      rec.StoppedByUser = false;
      await this.store.save(rec);
      this.publish(rec, 'start');
      this.watch(rec, started.cgroup);
      this.health.start(rec);
    } catch (err) {
      await prepared?.cancel().catch(() => {});
      await unmountRootfs(dir).catch(() => {});
      rec.State.Error = (err as Error).message;
      rec.State.ExitCode = startErrorExitCode(err);
      await this.store.save(rec).catch(() => {});
      throw err;
    }
  }

  private watch(rec: ContainerRecord, cgroup: CgroupManager): void {
    const dir = this.store.dir(rec.Id);
    // Never an unhandled rejection: berthd must survive a failed cleanup.
    const exited = watchExit(dir, this.socketDir(rec.Id))
      .then((status) => this.onExit(rec.Id, status, cgroup))
      .catch((err: unknown) => console.error(`berthd: recording the exit of ${rec.Id.slice(0, 12)}: ${(err as Error).message}`));
    this.live.set(rec.Id, { cgroup, exited });
  }

  private async onExit(id: string, status: ExitStatus, cgroup: CgroupManager): Promise<void> {
    const rec = this.store.find(id);
    this.live.delete(id);
    void this.health.stop(id);
    if (!rec) return;
    await this.recordExit(rec, status, cgroup);
    this.publish(rec, 'die', { exitCode: String(rec.State.ExitCode) });
    this.notify(rec.Id, ['not-running', 'next-exit'], rec.State.ExitCode);
    if (rec.HostConfig.AutoRemove) {
      await this.remove(rec.Id, { force: true, volumes: true }).catch(() => {});
      return;
    }
    if (this.restartPolicyApplies(rec)) this.scheduleRestart(rec, rec.RestartCount);
  }

  private async recordExit(rec: ContainerRecord, status: ExitStatus, cgroup: CgroupManager): Promise<void> {
    let oom = false;
    try {
      oom = (await cgroup.oomKillCount()) > 0;
    } catch {
      /* the group may already be gone */
    }
    await cgroup.destroy({ kill: true }).catch(() => {});
    await unmountRootfs(this.store.dir(rec.Id)).catch(() => {});
    rec.State = {
      ...rec.State,
      Status: 'exited',
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: oom,
      Pid: 0,
      ExitCode: status.exitCode,
      FinishedAt: status.finishedAt,
    };
    rec.MonitorPid = 0;
    await this.store.save(rec);
  }

  private restartPolicyApplies(rec: ContainerRecord): boolean {
    if (this.closing || rec.StoppedByUser) return false;
    const policy = rec.HostConfig.RestartPolicy;
    switch (policy?.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return rec.State.ExitCode !== 0 && (!policy.MaximumRetryCount || rec.RestartCount < policy.MaximumRetryCount);
      default:
        return false;
    }
  }

  /** Docker's back-off: 100 ms doubling per consecutive restart, at most a minute. */
  private scheduleRestart(rec: ContainerRecord, attempt: number): void {
    const delay = attempt === 0 ? 0 : Math.min(100 * 2 ** Math.min(attempt, 10), 60_000);
    rec.State = { ...rec.State, Status: 'restarting', Restarting: true };
    this.store.save(rec).catch(() => {});
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.Id);
      const current = this.store.find(rec.Id);
      if (!current || current.StoppedByUser || this.closing) return;
      current.RestartCount++;
      this.start(current.Id).catch(() => {
        if (this.restartPolicyApplies(current)) this.scheduleRestart(current, current.RestartCount);
      });
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.Id, timer);
  }

  private cancelRestart(rec: ContainerRecord): void {
    const t = this.restartTimers.get(rec.Id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(rec.Id);
    if (rec.State.Restarting) rec.State = { ...rec.State, Status: 'exited', Restarting: false };
  }

  private notify(id: string, conditions: WaitCondition[], code: number): void {
    const list = this.waiters.get(id);
    if (!list) return;
    const keep: Waiter[] = [];
    for (const w of list) {
      if (conditions.includes(w.condition)) w.resolve({ StatusCode: code });
      else keep.push(w);
    }
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  // --- stop, kill, restart, pause ------------------------------------------

  async kill(ref: string, signal?: string | number): Promise<void> {
    const rec = this.store.get(ref);
    if (!rec.State.Running) {
      throw conflict('BERTH_CONTAINER_NOT_RUNNING', `Cannot kill container: ${ref}: Container ${rec.Id} is not running`);
    }
    const sig = parseSignal(signal, 'SIGKILL');
    if (sig === osConstants.signals.SIGKILL || sig === osConstants.signals.SIGTERM) {
      rec.StoppedByUser = true;
      await this.store.save(rec);
    }
    if (rec.State.Paused && sig === osConstants.signals.SIGKILL) await this.live.get(rec.Id)?.cgroup.thaw().catch(() => {});
    try {
      process.kill(rec.State.Pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    this.publish(rec, 'kill', { signal: String(sig) });
  }

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<'stopped' | 'not-running'> {
    const rec = this.store.get(ref);
    this.cancelRestart(rec);
    if (!rec.State.Running) {
      rec.StoppedByUser = true;
      await this.store.save(rec);
      return 'not-running';
    }
    const live = this.live.get(rec.Id);
    rec.StoppedByUser = true;
    await this.store.save(rec);
    const sig = parseSignal(opts.signal || rec.Config.StopSignal, 'SIGTERM');
    const timeout = opts.timeout ?? rec.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (rec.State.Paused) await live?.cgroup.thaw().catch(() => {});
    const signalPid = (s: number) => {
      try {
        process.kill(rec.State.Pid, s);
      } catch {
        /* already gone */
      }
    };
    // dockerd's events: a kill for each signal sent, then die, then stop.
    if (timeout !== 0) {
      signalPid(sig);
      this.publish(rec, 'kill', { signal: String(sig) });
    }
    const exited = live?.exited ?? Promise.resolve();
    const inTime = timeout < 0 ? await exited.then(() => true) : await raceTimeout(exited, timeout * 1000);
    if (!inTime) {
      signalPid(osConstants.signals.SIGKILL);
      this.publish(rec, 'kill', { signal: String(osConstants.signals.SIGKILL) });
      await exited;
    }
    this.publish(rec, 'stop');
    return 'stopped';
  }

  async restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.stop(rec.Id, opts);
    await this.start(rec.Id);
    this.publish(rec, 'restart');
  }

  async pause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    if (!rec.State.Running) throw conflict('BERTH_CONTAINER_NOT_RUNNING', `Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict('BERTH_CONTAINER_PAUSED', `Container ${rec.Id} is already paused`);
    void this.health.pause(rec.Id);
    await this.live.get(rec.Id)!.cgroup.freeze();
    rec.State = { ...rec.State, Status: 'paused', Paused: true };
    await this.store.save(rec);
    this.publish(rec, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    if (!rec.State.Paused) throw conflict('BERTH_CONTAINER_NOT_PAUSED', `Container ${rec.Id} is not paused`);
    await this.live.get(rec.Id)!.cgroup.thaw();
    rec.State = { ...rec.State, Status: 'running', Paused: false };
    await this.store.save(rec);
    this.health.resume(rec.Id);
    this.publish(rec, 'unpause');
  }

  // --- wait, remove, rename ------------------------------------------------

  wait(ref: string, condition: WaitCondition = 'not-running'): Promise<{ StatusCode: number }> {
    const rec = this.store.get(ref);
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
      throw invalidArgument('BERTH_CONTAINER_BAD_CONDITION', `invalid condition: "${condition}"`);
    }
    if (condition === 'not-running' && !rec.State.Running && !rec.State.Restarting) {
      return Promise.resolve({ StatusCode: rec.State.ExitCode });
    }
    return new Promise((resolve) => {
      const list = this.waiters.get(rec.Id) ?? [];
      list.push({ condition, resolve });
      this.waiters.set(rec.Id, list);
    });
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.store.get(ref);
    if (rec.State.Running && !opts.force) {
      throw conflict(
        'BERTH_CONTAINER_RUNNING',
        `cannot remove container "${rec.Name}": container is running: stop the container before removing or force remove`,
      );
    }
    await this.exclusive(rec.Id, async () => {
      this.cancelRestart(rec);
      rec.StoppedByUser = true;
      if (rec.State.Running) {
        const live = this.live.get(rec.Id);
        if (rec.State.Paused) await live?.cgroup.thaw().catch(() => {});
        try {
          process.kill(rec.State.Pid, osConstants.signals.SIGKILL);
        } catch {
          /* gone */
        }
        this.publish(rec, 'kill', { signal: String(osConstants.signals.SIGKILL) });
        await live?.exited;
      }
      rec.State = { ...rec.State, Status: 'removing' };
      const dir = this.store.dir(rec.Id);
      await unmountRootfs(dir).catch(() => {});
      await this.snapshotter.remove(rec.SnapshotKey).catch((err: unknown) => {
        if ((err as BerthError).code !== 'BERTH_SNAPSHOT_NOT_FOUND') throw err;
      });
      if (opts.volumes) await removeAnonymousVolumes(this.opts.dataRoot, rec, this.store.list(), this.opts.events);
      await this.store.delete(rec.Id);
      await rm(this.socketDir(rec.Id), { recursive: true, force: true });
      for (const [execId, ex] of this.execs) if (ex.ContainerID === rec.Id) this.execs.delete(execId);
    });
    this.publish(rec, 'destroy');
    this.notify(rec.Id, ['not-running', 'next-exit', 'removed'], rec.State.ExitCode);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.store.get(ref);
    const name = validateName(newName);
    if (name === rec.Name) throw conflict('BERTH_CONTAINER_NAME_IN_USE', `Renaming a container with the same name as its current name`);
    this.store.claimName(name, rec.Id);
    const old = rec.Name;
    rec.Name = name;
    this.store.releaseName(old);
    await this.store.save(rec);
    this.publish(rec, 'rename', { oldName: old });
  }

  // --- queries -------------------------------------------------------------

  list(opts: ListOptions = {}): ContainerRecord[] {
    const filters = opts.filters ?? {};
    for (const key of Object.keys(filters)) {
      if (!['status', 'name', 'label', 'id', 'ancestor', 'exited', 'before', 'since', 'health'].includes(key)) {
        throw invalidArgument('BERTH_CONTAINER_BAD_FILTER', `invalid filter '${key}'`);
      }
    }
    checkHealthFilter(filters.health);
    for (const s of filters.status ?? []) {
      if (!CONTAINER_STATES.has(s)) throw invalidArgument('BERTH_CONTAINER_BAD_FILTER', `invalid filter 'status=${s}'`);
    }
    let out = this.store.list().sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    const hasStatusFilter = !!filters.status?.length || !!filters.exited?.length;
    if (!opts.all && !hasStatusFilter) out = out.filter((c) => c.State.Running || c.State.Restarting);
    const any = (key: string, pred: (v: string) => boolean) => !filters[key]?.length || filters[key]!.some(pred);
    out = out.filter(
      (c) =>
        any('status', (s) => c.State.Status === s) &&
        any('health', (h) => healthStatusOf(c) === h) &&
        // dockerd matches the name with and without its leading slash (name=^/web).
        any('name', (n) => nameMatches(n, c.Name)) &&
        any('id', (i) => c.Id.startsWith(i)) &&
        any('exited', (e) => !c.State.Running && c.State.Status === 'exited' && c.State.ExitCode === Number(e)) &&
        any('ancestor', (a) => c.Config.Image === a || c.Image === a || c.Image.slice(7).startsWith(a) || this.imageMatches(c.Image, a)) &&
        (filters.label ?? []).every((l) => {
          const eq = l.indexOf('=');
          const k = eq < 0 ? l : l.slice(0, eq);
          const labels = c.Config.Labels ?? {};
          return eq < 0 ? k in labels : labels[k] === l.slice(eq + 1);
        }),
    );
    for (const [key, cmp] of [['before', -1], ['since', 1]] as const) {
      for (const ref of filters[key] ?? []) {
        const pivot = this.store.get(ref);
        out = out.filter((c) => (cmp < 0 ? c.Created < pivot.Created : c.Created > pivot.Created));
      }
    }
    if (opts.limit && opts.limit > 0) out = out.slice(0, opts.limit);
    return out;
  }

  private imageMatches(imageId: string, ref: string): boolean {
    try {
      return this.opts.images.images.resolve(ref).id === imageId;
    } catch {
      return false;
    }
  }

  get(ref: string): ContainerRecord {
    return this.store.get(ref);
  }

  dir(id: string): string {
    return this.store.dir(id);
  }

  /** The host directory where the container's filesystem is visible (mounting it if stopped). */
  async rootfs(ref: string): Promise<{ path: string; release: () => Promise<void> }> {
    const rec = this.store.get(ref);
    if (rec.State.Running) return { path: `/proc/${rec.State.Pid}/root`, release: async () => {} };
    const dir = this.store.dir(rec.Id);
    const path = await mountRootfs(dir, await this.snapshotter.mounts(rec.SnapshotKey));
    return { path, release: () => unmountRootfs(dir) };
  }

  cgroupOf(ref: string): CgroupManager | undefined {
    return this.live.get(this.store.get(ref).Id)?.cgroup;
  }

  logs(ref: string, opts: { follow?: boolean; tail?: number; since?: number; until?: number; signal?: AbortSignal }): AsyncGenerator<LogEntry> {
    const rec = this.store.get(ref);
    if (rec.HostConfig.LogConfig?.Type === 'none') {
      throw invalidArgument('BERTH_CONTAINER_NO_LOGS', 'configured logging driver does not support reading');
    }
    const live = this.live.get(rec.Id);
    const settings = this.logSettings(rec);
    return readLogs({
      path: settings.path,
      maxFiles: settings.maxFiles,
      ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
      ...(opts.since !== undefined ? { since: opts.since } : {}),
      ...(opts.until !== undefined ? { until: opts.until } : {}),
      follow: !!opts.follow && !!live,
      ...(live ? { exited: live.exited } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * Attach to the container's stdio: output in Docker's multiplexed framing,
   * writes go to stdin. For a created container the socket connects when it
   * starts, so no output is missed (`docker run` attaches before starting).
   */
  attach(ref: string): Promise<Socket> {
    const rec = this.store.get(ref);
    if (rec.State.Running) return attachMonitor(this.socketDir(rec.Id));
    return new Promise((resolve, reject) => {
      const list = this.pendingAttach.get(rec.Id) ?? [];
      list.push(async (dir) => {
        try {
          resolve(await attachMonitor(dir));
        } catch (err) {
          reject(err);
        }
      });
      this.pendingAttach.set(rec.Id, list);
    });
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const rec = this.store.get(ref);
    if (!rec.State.Running) throw conflict('BERTH_CONTAINER_NOT_RUNNING', `Container ${rec.Id} is not running`);
    if (!rec.Config.Tty) return;
    await resizeTty(this.socketDir(rec.Id), height, width);
  }

  async closeStdin(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    if (rec.State.Running) await closeStdin(this.socketDir(rec.Id)).catch(() => {});
  }

  // --- exec ----------------------------------------------------------------

  createExec(ref: string, config: ExecConfig): string {
    const rec = this.store.get(ref);
    if (!rec.State.Running) throw conflict('BERTH_CONTAINER_NOT_RUNNING', `Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict('BERTH_CONTAINER_PAUSED', `Container ${rec.Id} is paused, unpause the container before exec`);
    if (!Array.isArray(config?.Cmd) || config.Cmd.length === 0) throw invalidArgument('BERTH_EXEC_NO_COMMAND', 'No exec command specified');
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { ID: id, ContainerID: rec.Id, Config: config, Running: false, ExitCode: null, Pid: 0 });
    this.publish(rec, `exec_create: ${config.Cmd.join(' ')}`, { execID: id });
    return id;
  }

  /** Drop an exec's record (health probes, once done: dockerd does not list them either). */
  forgetExec(id: string): void {
    this.execs.delete(id);
  }

  getExec(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new BerthError('BERTH_EXEC_NOT_FOUND', `No such exec instance: ${id}`, { status: 404 });
    return e;
  }

  /**
   * Start an exec: the process joins the container's namespaces and cgroups
   * under a monitor of its own (no log: output goes to the attached client).
   * Returns the attach socket (Docker-multiplexed output, writes → stdin),
   * connected before the process starts so no output is lost.
   */
  /** The refusals of startExec (already run, container not running), checked without starting anything. */
  checkExecStartable(id: string): ExecRecord {
    const ex = this.getExec(id);
    if (ex.Running || ex.ExitCode !== null) throw conflict('BERTH_EXEC_STARTED', `Error: Exec command ${id} has already run`);
    const rec = this.store.get(ex.ContainerID);
    if (!rec.State.Running || !this.live.has(rec.Id)) throw conflict('BERTH_CONTAINER_NOT_RUNNING', `Container ${rec.Id} is not running`);
    return ex;
  }

  async startExec(id: string, opts: { detach?: boolean } = {}): Promise<Socket | undefined> {
    const ex = this.checkExecStartable(id);
    const rec = this.store.get(ex.ContainerID);
    const live = this.live.get(rec.Id)!;
    const dir = join(this.store.dir(rec.Id), 'exec', id);
    const sockets = this.socketDir(id);
    await mkdir(dir, { recursive: true });
    await mkdir(sockets, { recursive: true, mode: 0o700 });
    const spec = JSON.parse(await readFile(join(this.store.dir(rec.Id), 'config.json'), 'utf8')) as Spec;
    const base = spec.process!;
    const rootfs = `/proc/${rec.State.Pid}/root`;
    const cfg = ex.Config;
    let user;
    try {
      user = cfg.User ? resolveUser(rootfs, cfg.User) : { uid: base.user.uid, gid: base.user.gid, additionalGids: base.user.additionalGids ?? [] };
    } catch (err) {
      // dockerd: the exec could not start (unknown user): exit code 126.
      ex.ExitCode = 126;
      await rm(dir, { recursive: true, force: true });
      await rm(sockets, { recursive: true, force: true });
      throw err;
    }
    const caps = cfg.Privileged ? ownBoundingCapabilities() : (base.capabilities?.bounding ?? []);
    const env = new Map<string, string>();
    for (const e of [...(base.env ?? []), ...(cfg.Env ?? [])]) {
      const eq = e.indexOf('=');
      env.set(eq < 0 ? e : e.slice(0, eq), e);
    }
    if (cfg.Tty && !env.has('TERM')) env.set('TERM', 'TERM=xterm');
    const proc: Process = {
      terminal: !!cfg.Tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args: cfg.Cmd,
      env: [...env.values()],
      cwd: cfg.WorkingDir || base.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: !!base.noNewPrivileges,
      ...(cfg.ConsoleSize && cfg.ConsoleSize[0] > 0 ? { consoleSize: { height: cfg.ConsoleSize[0], width: cfg.ConsoleSize[1] } } : {}),
    };
    const execSpec: Spec = cfg.Privileged && spec.linux ? { ...spec, linux: { ...spec.linux, seccomp: undefined } } : spec;
    let plan;
    try {
      plan = computePlan({
      spec: execSpec,
      rootfs,
      bundle: this.store.dir(rec.Id),
      process: proc,
      joinPid: rec.State.Pid,
      detach: true,
      cgroupProcs: live.cgroup.procsFiles(),
      ...(cfg.Tty ? { consoleSocket: join(sockets, 'console.sock') } : {}),
      });
    } catch (err) {
      // The command cannot run (not found, not executable): a launch failure,
      // not a refusal of the request; dockerd records 126 for any exec that
      // the runtime could not start.
      ex.ExitCode = 126;
      await rm(dir, { recursive: true, force: true });
      await rm(sockets, { recursive: true, force: true });
      throw err;
    }
    const pending = await spawnMonitor({
      dir,
      socketDir: sockets,
      stdin: !!cfg.AttachStdin,
      stdinOnce: !!cfg.AttachStdin,
      tty: !!cfg.Tty,
      launcherChannel: true,
      command: [launcherPath(), '3'],
    }, this.monitors);
    let client: Socket | undefined;
    try {
      if (!opts.detach) client = await attachMonitor(sockets);
      const started = await pending.start(followLauncher(pending.launcherChannel!, plan.bytes));
      ex.Running = true;
      ex.Pid = started.containerPid;
    } catch (err) {
      await pending.cancel();
      client?.destroy();
      ex.ExitCode = 126;
      await rm(dir, { recursive: true, force: true });
      await rm(sockets, { recursive: true, force: true });
      throw err;
    }
    this.publish(rec, `exec_start: ${cfg.Cmd.join(' ')}`, { execID: id });
    ex.exited = watchExit(dir, sockets).then(async (status) => {
      ex.Running = false;
      ex.ExitCode = status.exitCode;
      ex.Pid = 0;
      await rm(dir, { recursive: true, force: true });
      this.publish(rec, 'exec_die', { execID: id, exitCode: String(status.exitCode) });
    });
    return client;
  }

  async resizeExec(id: string, height: number, width: number): Promise<void> {
    const ex = this.getExec(id);
    if (!ex.Running) throw conflict('BERTH_EXEC_NOT_RUNNING', `Exec ${id} is not running`);
    if (ex.Config.Tty) await resizeTty(this.socketDir(id), height, width);
  }

  async prune(filters: Record<string, string[]> = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    const candidates = this.list({ all: true, filters: Object.fromEntries(Object.entries(filters).filter(([k]) => k === 'label')) });
    for (const c of candidates) {
      if (c.State.Running || c.State.Restarting) continue;
      // dockerd's SpaceReclaimed: the containers' SizeRw.
      space += await this.snapshotter.dirs(c.SnapshotKey).then(changesSize).catch(() => 0);
      await this.remove(c.Id, {});
      deleted.push(c.Id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }
}

/** The states a status filter may name (dockerd's IsValidStateString). */
const CONTAINER_STATES = new Set(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);

/** A name filter: a regular expression tried on "/name" and "name"; one that does not compile matches nothing (as dockerd's). */
export function nameMatches(pattern: string, name: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    return false;
  }
  return re.test(name) || re.test(name.replace(/^\//, ''));
}

function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** "10m", "1g", "512k", "1024" → bytes (Docker's units for log max-size). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw invalidArgument('BERTH_CONTAINER_BAD_LOG_OPT', `invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/** The exit code Docker records for a start that failed: 127 not found, 126 not executable, else 128. */
function startErrorExitCode(err: unknown): number {
  const msg = (err as Error).message ?? '';
  if ((err as BerthError).code === 'BERTH_RUNTIME_EXEC_NOT_FOUND' || /not found|no such file/i.test(msg)) return 127;
  if (/permission denied|not executable/i.test(msg)) return 126;
  return 128;
}
