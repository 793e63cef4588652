/**
 * From a container's Docker-shaped configuration (Config + HostConfig, as
 * the Engine API and `docker inspect` know it) and its image's config, to an
 * OCI runtime config.json with Docker's defaults: the mounts, capabilities,
 * masked and read-only paths, device rules and namespaces a Docker user
 * expects. Pure and synchronous: it is on the container-start hot path, and
 * everything that needs the filesystem (user lookup, volume paths, host
 * devices) is resolved by the caller and passed in.
 */
import type { ContainerConfig as ImageRunConfig } from '../oci/image-spec.ts';
import type { ContainerConfig, HostConfig } from '../api/container-types.ts';
import type {
  Spec,
  Mount,
  LinuxNamespace,
  LinuxResources,
  LinuxDeviceCgroup,
  LinuxDevice,
  POSIXRlimit,
  LinuxSeccomp,
} from '../oci/runtime-spec.ts';
import { OCI_RUNTIME_SPEC_VERSION } from '../oci/runtime-spec.ts';
import { BerthError, invalidArgument } from '../common/errors.ts';
import { DOCKER_DEFAULT_CAPABILITIES, canonicalCapabilityName, isKnownCapability } from '../runtime/capabilities.ts';

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Docker's masked paths (moby oci/defaults.go): unreadable kernel information. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Device cgroup rules every Docker container gets (deny all, then these). */
const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: null, minor: null, access: 'm' },
  { allow: true, type: 'b', major: null, minor: null, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 136, minor: null, access: 'rwm' }, // pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

/** What the caller resolved before building the spec. */
export interface SpecInputs {
  id: string;
  /** The container's mounted root filesystem. */
  rootfsPath: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** The image's run configuration (`config` of the image config). */
  image: ImageRunConfig | undefined;
  /** Numeric identity of Config.User, resolved against the rootfs's /etc/passwd. */
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Per-container files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles?: { hostname?: string; hosts?: string; resolvConf?: string };
  /** Bind, volume and tmpfs mounts, already resolved to host paths and options. */
  userMounts: Mount[];
  /** Devices to create (from --device or, when privileged, the host's). */
  devices: LinuxDevice[];
  /** Seccomp filter, or undefined for unconfined. */
  seccomp: LinuxSeccomp | undefined;
  /** Every capability the kernel knows, for --privileged and ALL. */
  allCapabilities: readonly string[];
  /** cgroup v2 hosts get a private cgroup namespace by default, v1 hosts share it (Docker's rule). */
  cgroupV2: boolean;
  /** Path of an init binary inside the rootfs to run as PID 1 for --init. */
  initPath?: string;
  /** Network namespace to join (e.g. container:<id>), if any. */
  netnsPath?: string;
  /** --pid / --ipc container:<x>: that container's namespaces (/proc/<pid>/ns/…). */
  pidnsPath?: string;
  ipcnsPath?: string;
}

/** The argv a container runs: Entrypoint + Cmd, with Docker's precedence. */
export function containerArgs(config: ContainerConfig, image: ImageRunConfig | undefined): string[] {
  const asList = (v: string[] | string | null | undefined): string[] | undefined =>
    v === undefined || v === null ? undefined : typeof v === 'string' ? [v] : v;
  const userEntrypoint = asList(config.Entrypoint);
  const userCmd = asList(config.Cmd);
  // An entrypoint given at create time drops the image's Cmd (Docker's rule).
  const entrypoint = userEntrypoint ?? image?.Entrypoint ?? [];
  const cmd = userCmd ?? (userEntrypoint !== undefined ? [] : (image?.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw invalidArgument('BERTH_CONTAINER_NO_COMMAND', 'no command specified: the image has no Entrypoint or Cmd and none was given');
  }
  return args;
}

/** Image Env, then the user's, later keys replacing earlier ones; PATH defaulted. */
export function containerEnv(config: ContainerConfig, image: ImageRunConfig | undefined, hostname: string): string[] {
  const merged = new Map<string, string>();
  const put = (entry: string) => {
    const eq = entry.indexOf('=');
    merged.set(eq === -1 ? entry : entry.slice(0, eq), entry);
  };
  put(DEFAULT_PATH_ENV);
  put(`HOSTNAME=${hostname}`);
  for (const e of image?.Env ?? []) put(e);
  for (const e of config.Env ?? []) {
    // `-e NAME` without a value and not set anywhere is dropped, as Docker does.
    if (!e.includes('=')) continue;
    put(e);
  }
  if (config.Tty && !merged.has('TERM')) put('TERM=xterm');
  return [...merged.values()];
}

/** Docker's capability arithmetic: defaults, then --cap-add, then --cap-drop ("ALL" allowed in both). */
export function containerCapabilities(hostConfig: HostConfig, allCapabilities: readonly string[]): string[] {
  if (hostConfig.Privileged) return [...allCapabilities];
  const normalize = (list: string[] | null | undefined, field: string) =>
    (list ?? []).map((name) => {
      const upper = name.toUpperCase();
      if (upper === 'ALL') return 'ALL';
      const canonical = canonicalCapabilityName(name);
      if (!isKnownCapability(canonical)) {
        throw invalidArgument('BERTH_CONTAINER_BAD_CAPABILITY', `${field}: unknown capability "${name}"`);
      }
      return canonical;
    });
  const add = normalize(hostConfig.CapAdd, 'CapAdd');
  const drop = normalize(hostConfig.CapDrop, 'CapDrop');
  let caps = new Set<string>(add.includes('ALL') ? allCapabilities : DOCKER_DEFAULT_CAPABILITIES);
  if (drop.includes('ALL')) caps = new Set();
  for (const c of add) if (c !== 'ALL' && !drop.includes(c)) caps.add(c);
  for (const c of drop) caps.delete(c);
  return [...caps].sort();
}

export function containerHostname(config: ContainerConfig, id: string): string {
  return config.Hostname || id.slice(0, 12);
}

function defaultMounts(hostConfig: HostConfig, cgroupV2: boolean): Mount[] {
  const privileged = !!hostConfig.Privileged;
  const shmSize = hostConfig.ShmSize && hostConfig.ShmSize > 0 ? hostConfig.ShmSize : DEFAULT_SHM_SIZE;
  const sysOptions = ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'];
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOptions },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
  // cgroup v1 in a shared cgroup namespace cannot be mounted as a plain
  // "cgroup" filesystem without a controller list; runc expands it. Keep the
  // mount: the runtime handles both layouts.
  void cgroupV2;
  return mounts;
}

function etcMounts(files: SpecInputs['etcFiles']): Mount[] {
  const out: Mount[] = [];
  const bind = (source: string | undefined, destination: string) => {
    if (source) out.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  };
  bind(files?.resolvConf, '/etc/resolv.conf');
  bind(files?.hostname, '/etc/hostname');
  bind(files?.hosts, '/etc/hosts');
  return out;
}

/** Later mounts replace earlier ones at the same destination (user over defaults). */
function mergeMounts(base: Mount[], overrides: Mount[]): Mount[] {
  const overridden = new Set(overrides.map((m) => normalizeDest(m.destination)));
  const kept = base.filter((m) => {
    const dest = normalizeDest(m.destination);
    // A user mount on /dev replaces /dev and everything Docker mounts below it.
    for (const o of overridden) if (dest === o || dest.startsWith(o + '/')) return false;
    return true;
  });
  return [...kept, ...overrides];
}

function normalizeDest(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

function namespaces(inputs: SpecInputs): LinuxNamespace[] {
  const hc = inputs.hostConfig;
  const ns: LinuxNamespace[] = [{ type: 'mount' }];
  const mode = hc.NetworkMode ?? '';
  if (inputs.netnsPath) ns.push({ type: 'network', path: inputs.netnsPath });
  else if (mode !== 'host') ns.push({ type: 'network' });
  if (hc.UTSMode !== 'host') ns.push({ type: 'uts' });
  if (inputs.pidnsPath) ns.push({ type: 'pid', path: inputs.pidnsPath });
  else if (hc.PidMode !== 'host') ns.push({ type: 'pid' });
  if (inputs.ipcnsPath) ns.push({ type: 'ipc', path: inputs.ipcnsPath });
  else if (hc.IpcMode !== 'host') ns.push({ type: 'ipc' });
  const cgroupns = hc.CgroupnsMode || (inputs.cgroupV2 ? 'private' : 'host');
  if (cgroupns === 'private') ns.push({ type: 'cgroup' });
  return ns;
}

/** Docker's NanoCpus → CFS quota over a 100 ms period. */
export function nanoCpusToQuota(nanoCpus: number): { quota: number; period: number } {
  const period = 100_000;
  return { quota: Math.round((nanoCpus * period) / 1e9), period };
}

function resources(hc: HostConfig, deviceRules: LinuxDeviceCgroup[]): LinuxResources {
  const r: LinuxResources = { devices: deviceRules };
  const memory: NonNullable<LinuxResources['memory']> = {};
  // Create and update check limits with dockerd's messages (resources.ts); a
  // spec is still never built with a limit the kernel would take as nonsense.
  if (hc.Memory && hc.Memory > 0) {
    if (hc.Memory < 6 * 1024 * 1024) {
      throw invalidArgument('BERTH_CONTAINER_BAD_MEMORY', 'Memory: minimum memory limit allowed is 6MB');
    }
    memory.limit = hc.Memory;
    // Docker's default: swap may equal the memory limit again (total 2x).
    if (hc.MemorySwap === undefined || hc.MemorySwap === 0) memory.swap = hc.Memory * 2;
  }
  if (hc.MemorySwap !== undefined && hc.MemorySwap !== 0) memory.swap = hc.MemorySwap;
  if (hc.MemoryReservation && hc.MemoryReservation > 0) memory.reservation = hc.MemoryReservation;
  if (hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null && hc.MemorySwappiness >= 0) {
    memory.swappiness = hc.MemorySwappiness;
  }
  if (hc.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length > 0) r.memory = memory;

  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (hc.NanoCpus && hc.NanoCpus > 0) Object.assign(cpu, nanoCpusToQuota(hc.NanoCpus));
  if (hc.CpuShares && hc.CpuShares > 0) cpu.shares = hc.CpuShares;
  if (hc.CpuQuota && hc.CpuQuota > 0) cpu.quota = hc.CpuQuota;
  if (hc.CpuPeriod && hc.CpuPeriod > 0) cpu.period = hc.CpuPeriod;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length > 0) r.cpu = cpu;

  if (hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit > 0) r.pids = { limit: hc.PidsLimit };
  if (hc.BlkioWeight && hc.BlkioWeight > 0) r.blockIO = { weight: hc.BlkioWeight };
  return r;
}

const RLIMIT_NAMES = new Set([
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
]);

function rlimits(hc: HostConfig): POSIXRlimit[] {
  return (hc.Ulimits ?? []).map((u) => {
    const name = u.Name.toLowerCase();
    if (!RLIMIT_NAMES.has(name)) {
      throw invalidArgument('BERTH_CONTAINER_BAD_ULIMIT', `Ulimits: unknown limit "${u.Name}"`);
    }
    if (u.Soft > u.Hard) {
      throw invalidArgument('BERTH_CONTAINER_BAD_ULIMIT', `Ulimits: ${u.Name} soft limit ${u.Soft} is above its hard limit ${u.Hard}`);
    }
    return { type: `RLIMIT_${name.toUpperCase()}`, soft: u.Soft, hard: u.Hard };
  });
}

/** Parse SecurityOpt entries berth understands; refuse the rest clearly. */
export function parseSecurityOpts(opts: readonly string[] | null | undefined): {
  noNewPrivileges: boolean;
  seccomp: 'default' | 'unconfined' | { profileJson: string };
} {
  let noNewPrivileges = false;
  let seccomp: 'default' | 'unconfined' | { profileJson: string } = 'default';
  for (const raw of opts ?? []) {
    const sep = raw.search(/[=:]/);
    const key = sep === -1 ? raw : raw.slice(0, sep);
    const value = sep === -1 ? '' : raw.slice(sep + 1);
    switch (key) {
      case 'no-new-privileges':
        noNewPrivileges = value === '' || value === 'true';
        if (value !== '' && value !== 'true' && value !== 'false') {
          throw invalidArgument('BERTH_CONTAINER_BAD_SECURITY_OPT', `SecurityOpt: invalid no-new-privileges value "${value}"`);
        }
        break;
      case 'seccomp':
        // The docker CLI reads a profile file and sends its JSON inline.
        seccomp = value === 'unconfined' ? 'unconfined' : { profileJson: value };
        break;
      case 'apparmor':
      case 'label':
        // No AppArmor or SELinux on the hosts berth targets; Docker ignores
        // these where the LSM is absent too.
        break;
      default:
        throw invalidArgument('BERTH_CONTAINER_BAD_SECURITY_OPT', `SecurityOpt: unsupported option "${raw}"`);
    }
  }
  return { noNewPrivileges, seccomp };
}

export function cgroupsPathFor(id: string, hostConfig: HostConfig): string {
  const parent = hostConfig.CgroupParent || '/berth';
  if (parent.includes('..')) {
    throw invalidArgument('BERTH_CONTAINER_BAD_CGROUP_PARENT', `CgroupParent: "${parent}" must not contain ".."`);
  }
  return `${parent.startsWith('/') ? '' : '/'}${parent.replace(/\/+$/, '')}/${id}`;
}

/** Build config.json for a container. */
export function buildContainerSpec(inputs: SpecInputs): Spec {
  const { config, hostConfig: hc, image } = inputs;
  const hostname = containerHostname(config, inputs.id);
  let args = containerArgs(config, image);
  if (hc.Init && inputs.initPath) args = [inputs.initPath, '--', ...args];
  else if (hc.Init) throw new BerthError('BERTH_CONTAINER_NO_INIT', '--init was asked for but no init binary is installed');
  const cwd = config.WorkingDir || image?.WorkingDir || '/';
  if (!cwd.startsWith('/')) {
    throw invalidArgument('BERTH_CONTAINER_BAD_WORKDIR', `WorkingDir: "${cwd}" is not an absolute path`);
  }
  const security = parseSecurityOpts(hc.SecurityOpt);
  const capabilities = containerCapabilities(hc, inputs.allCapabilities);
  const privileged = !!hc.Privileged;
  const deviceRules: LinuxDeviceCgroup[] = privileged
    ? [{ allow: true, access: 'rwm' }]
    : [
        ...DEFAULT_DEVICE_RULES,
        ...inputs.devices.map((d) => ({
          allow: true,
          type: d.type,
          major: d.major ?? null,
          minor: d.minor ?? null,
          access: (d as LinuxDevice & { access?: string }).access ?? 'rwm',
        })),
      ];

  const spec: Spec = {
    ociVersion: OCI_RUNTIME_SPEC_VERSION,
    process: {
      terminal: !!config.Tty,
      user: {
        uid: inputs.user.uid,
        gid: inputs.user.gid,
        ...(inputs.user.additionalGids.length > 0 ? { additionalGids: inputs.user.additionalGids } : {}),
      },
      args,
      env: containerEnv(config, image, hostname),
      cwd,
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        permitted: capabilities,
      },
      noNewPrivileges: security.noNewPrivileges,
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
      ...(hc.ConsoleSize && hc.ConsoleSize[0] > 0 ? { consoleSize: { height: hc.ConsoleSize[0], width: hc.ConsoleSize[1] } } : {}),
    },
    root: { path: inputs.rootfsPath, readonly: !!hc.ReadonlyRootfs },
    // --uts host: the host's UTS namespace, whose names are not ours to set.
    ...(hc.UTSMode === 'host' ? {} : { hostname }),
    ...(config.Domainname && hc.UTSMode !== 'host' ? { domainname: config.Domainname } : {}),
    mounts: mergeMounts([...defaultMounts(hc, inputs.cgroupV2), ...etcMounts(inputs.etcFiles)], inputs.userMounts),
    linux: {
      namespaces: namespaces(inputs),
      cgroupsPath: cgroupsPathFor(inputs.id, hc),
      resources: resources(hc, deviceRules),
      ...(inputs.devices.length > 0
        ? { devices: inputs.devices.map(({ path, type, major, minor, fileMode, uid, gid }) => ({ path, type, major, minor, fileMode, uid, gid })) }
        : {}),
      ...(hc.Sysctls && Object.keys(hc.Sysctls).length > 0 ? { sysctl: { ...hc.Sysctls } } : {}),
      maskedPaths: privileged ? [] : [...(hc.MaskedPaths ?? DEFAULT_MASKED_PATHS)],
      readonlyPaths: privileged ? [] : [...(hc.ReadonlyPaths ?? DEFAULT_READONLY_PATHS)],
      ...(inputs.seccomp && !privileged && security.seccomp !== 'unconfined' ? { seccomp: inputs.seccomp } : {}),
    },
  };
  const limits = rlimits(hc);
  if (limits.length > 0) spec.process!.rlimits = limits;
  return spec;
}
