/**
 * Container records → Docker's JSON: the inspect document (GET
 * /containers/{id}/json) and the list summary (GET /containers/json), with
 * the field sets dockerd 20.10 sends (protocol-traces/docker-inspect.txt,
 * docker-ps.txt), so `docker inspect --format` templates and SDKs find every
 * field where they expect it.
 */
import { createHash } from 'node:crypto';
import type { ContainerRecord } from '../container/store.ts';
import type { HostConfig } from './container-types.ts';
import type { ContainerInspect, ContainerSummary, EndpointJson, MountPointJson, NetworkSettingsJson } from './container-wire.ts';
import { humanDuration } from './units.ts';
import { DEFAULT_RUNTIME } from '../common/config.ts';
import { builtinNetworkId, endpointId, networkName } from '../network/builtin.ts';

function endpoint(containerId: string, network: string): EndpointJson {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    NetworkID: builtinNetworkId(network),
    EndpointID: endpointId(containerId, network),
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: '',
    DriverOpts: null,
  };
}

function networks(rec: ContainerRecord, running: boolean): Record<string, EndpointJson> {
  const name = networkName(rec);
  if (!name) return {};
  const ep = endpoint(rec.Id, name);
  // A stopped container keeps its network entry but no endpoint (as dockerd shows it).
  if (!running) ep.EndpointID = '';
  return { [name]: ep };
}

export function networkSettings(rec: ContainerRecord): NetworkSettingsJson {
  const running = rec.State.Running;
  return {
    Bridge: '',
    SandboxID: running ? createHash('sha256').update(`sandbox/${rec.Id}`).digest('hex') : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SandboxKey: running ? `/proc/${rec.State.Pid}/ns/net` : '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
    Networks: networks(rec, running),
  };
}

export function mountPoints(rec: ContainerRecord): MountPointJson[] {
  const stored = rec.MountPoints;
  if (stored) {
    return stored.map((m) => ({
      Type: m.Type,
      ...(m.Name ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Type === 'volume' ? { Driver: m.Driver ?? 'local' } : {}),
      Mode: m.Mode,
      RW: m.RW,
      Propagation: m.Propagation,
    }));
  }
  // Not started yet: what the user asked for, as Docker shows it before start.
  const out: MountPointJson[] = [];
  for (const bind of rec.HostConfig.Binds ?? []) {
    const [src = '', dst = '', mode = ''] = bind.split(':');
    if (!src.startsWith('/')) {
      out.push({ Type: 'volume', Name: src, Source: '', Destination: dst, Driver: 'local', Mode: mode.replace(/\b(ro|rw)\b,?/, ''), RW: !/\bro\b/.test(mode), Propagation: '' });
    } else {
      out.push({ Type: 'bind', Source: src, Destination: dst, Mode: mode, RW: !/\bro\b/.test(mode), Propagation: 'rprivate' });
    }
  }
  for (const m of rec.HostConfig.Mounts ?? []) {
    out.push({
      Type: (m.Type ?? 'bind') as MountPointJson['Type'],
      Source: m.Source ?? '',
      Destination: m.Target,
      Mode: '',
      RW: !m.ReadOnly,
      Propagation: m.Type === 'bind' ? (m.BindOptions?.Propagation ?? 'rprivate') : '',
    });
  }
  return out;
}

/** Every HostConfig field Docker prints, defaults under what the container was created with. */
export function fullHostConfig(hc: HostConfig): HostConfig & Record<string, unknown> {
  return {
    Binds: null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: 'none',
    PortBindings: {},
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: 'host',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: 67108864,
    Runtime: DEFAULT_RUNTIME,
    ConsoleSize: [0, 0],
    Isolation: '',
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: null,
    BlkioDeviceWriteBps: null,
    BlkioDeviceReadIOps: null,
    BlkioDeviceWriteIOps: null,
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: null,
    Ulimits: null,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: [
      '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
    ],
    ReadonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    ...stripUndefined(hc),
    ...(hc.Privileged ? { MaskedPaths: null, ReadonlyPaths: null } : {}),
    ...(hc.PidsLimit === 0 ? { PidsLimit: null } : {}),
    ...(hc.ShmSize ? {} : { ShmSize: 67108864 }),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** overlay2's GraphDriver.Data from the container's snapshot mounts. */
export function graphDriver(driver: string, mounts: Array<{ type: string; options: string[] }> | undefined, mergedDir: string): ContainerInspect['GraphDriver'] {
  const overlay = mounts?.find((m) => m.type === 'overlay');
  if (!overlay) return { Name: driver, Data: null };
  const opt = (name: string) => overlay.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
  return { Name: driver, Data: { LowerDir: opt('lowerdir'), MergedDir: mergedDir, UpperDir: opt('upperdir'), WorkDir: opt('workdir') } };
}

export function containerInspect(
  rec: ContainerRecord,
  extra: { graphDriver: ContainerInspect['GraphDriver']; execIds: string[] | null; sizeRw?: number; sizeRootFs?: number },
): ContainerInspect {
  return {
    Id: rec.Id,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: { ...rec.State },
    Image: rec.Image,
    ResolvConfPath: rec.ResolvConfPath,
    HostnamePath: rec.HostnamePath,
    HostsPath: rec.HostsPath,
    LogPath: rec.LogPath,
    Name: rec.Name,
    RestartCount: rec.RestartCount,
    Driver: rec.Driver,
    Platform: rec.Platform,
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: extra.execIds && extra.execIds.length ? extra.execIds : null,
    HostConfig: fullHostConfig(rec.HostConfig),
    GraphDriver: extra.graphDriver,
    ...(extra.sizeRw !== undefined ? { SizeRw: extra.sizeRw } : {}),
    ...(extra.sizeRootFs !== undefined ? { SizeRootFs: extra.sizeRootFs } : {}),
    Mounts: mountPoints(rec),
    Config: {
      Hostname: '',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: null,
      Cmd: null,
      Image: '',
      Volumes: null,
      WorkingDir: '',
      Entrypoint: null,
      OnBuild: null,
      Labels: {},
      ...stripUndefined(rec.Config),
      ...(rec.Config.Volumes && Object.keys(rec.Config.Volumes).length === 0 ? { Volumes: null } : {}),
      ...(rec.Config.ExposedPorts && Object.keys(rec.Config.ExposedPorts).length === 0 ? { ExposedPorts: undefined } : {}),
    },
    NetworkSettings: networkSettings(rec),
  };
}

/** Docker's shell-ish join of the command for `ps`: args with spaces are single-quoted. */
export function commandLine(rec: ContainerRecord): string {
  const quote = (a: string) => (a === '' || /[\s'"\\$`]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a);
  return [rec.Path, ...rec.Args.map(quote)].filter((x) => x !== '').join(' ');
}

/** "Up 3 seconds", "Up 2 minutes (Paused)", "Up 1 minute (healthy)", "Exited (0) 5 seconds ago", "Created", "Restarting (1) …". */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.State;
  const ago = (t: string) => humanDuration(Math.max(0, now - Date.parse(t)));
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Dead) return 'Dead';
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${ago(s.FinishedAt)} ago`;
  if (s.Running) {
    if (s.Paused) return `Up ${ago(s.StartedAt)} (Paused)`;
    // dockerd's State.String(): the health check's status once the container ran with one.
    if (s.Health) return `Up ${ago(s.StartedAt)} (${s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status})`;
    return `Up ${ago(s.StartedAt)}`;
  }
  if (s.StartedAt === '0001-01-01T00:00:00Z' || s.FinishedAt === '0001-01-01T00:00:00Z') return 'Created';
  return `Exited (${s.ExitCode}) ${ago(s.FinishedAt)} ago`;
}

export function containerSummary(rec: ContainerRecord, extra: { sizeRw?: number; sizeRootFs?: number } = {}): ContainerSummary {
  const running = rec.State.Running;
  return {
    Id: rec.Id,
    Names: [rec.Name],
    Image: rec.Config.Image || rec.Image,
    ImageID: rec.Image,
    Command: commandLine(rec),
    Created: Math.floor(Date.parse(rec.Created) / 1000),
    Ports: [],
    ...(extra.sizeRw !== undefined ? { SizeRw: extra.sizeRw } : {}),
    ...(extra.sizeRootFs !== undefined ? { SizeRootFs: extra.sizeRootFs } : {}),
    Labels: rec.Config.Labels ?? {},
    State: rec.State.Status,
    Status: statusText(rec),
    HostConfig: { NetworkMode: rec.HostConfig.NetworkMode || 'none' },
    NetworkSettings: { Networks: networks(rec, running) },
    Mounts: mountPoints(rec),
  };
}
