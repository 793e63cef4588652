/**
 * `berth run` / `berth create` flags → the POST /containers/create body, the
 * way the docker CLI builds it (-v → Binds or Volumes, --mount → Mounts,
 * --tmpfs, -m, --cpus, --ulimit, --restart name[:n], --env-file, …).
 * Bad values are usage errors that say which flag and what was wrong.
 */
import type { FlagSpec, ParsedFlags } from '../args.ts';
import { UsageError } from '../args.ts';
import { bool, list, str } from '../command.ts';
import type { ContainerCreateRequest, HostConfig, MountPoint, Ulimit } from '../../api/container-types.ts';
import { HEALTH_FLAGS, healthcheckFromFlags } from './health-options.ts';

export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'attach', short: 'a', type: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { name: 'cidfile', type: 'string', description: 'Write the container ID to the file' },
  { name: 'cpu-period', type: 'string', description: 'Limit CPU CFS (Completely Fair Scheduler) period', value: 'int' },
  { name: 'cpu-quota', type: 'string', description: 'Limit CPU CFS (Completely Fair Scheduler) quota', value: 'int' },
  { name: 'cpu-shares', short: 'c', type: 'string', description: 'CPU shares (relative weight)', value: 'int' },
  { name: 'cpus', type: 'string', description: 'Number of CPUs', value: 'decimal' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'device', type: 'list', description: 'Add a host device to the container' },
  { name: 'dns', type: 'list', description: 'Set custom DNS servers' },
  { name: 'domainname', type: 'string', description: 'Container NIS domain name' },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
  { name: 'group-add', type: 'list', description: 'Add additional groups to join' },
  ...HEALTH_FLAGS.filter((f) => f.name !== 'no-healthcheck'),
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'ipc', type: 'string', description: 'IPC mode to use (host, container:<name|id>)' },
  { name: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { name: 'log-driver', type: 'string', description: 'Logging driver for the container (json-file, none)' },
  { name: 'log-opt', type: 'list', description: 'Log driver options (max-size, max-file)' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit', value: 'bytes' },
  { name: 'memory-reservation', type: 'string', description: 'Memory soft limit', value: 'bytes' },
  { name: 'memory-swap', type: 'string', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", value: 'bytes' },
  { name: 'mount', type: 'list', description: 'Attach a filesystem mount to the container', value: 'mount' },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'network', type: 'string', description: 'Connect a container to a network (none, host)', value: 'network' },
  { name: 'net', type: 'string', description: 'Connect a container to a network', hidden: true },
  ...HEALTH_FLAGS.filter((f) => f.name === 'no-healthcheck'),
  { name: 'oom-score-adj', type: 'string', description: "Tune host's OOM preferences (-1000 to 1000)", value: 'int' },
  { name: 'pid', type: 'string', description: 'PID namespace to use (host, container:<name|id>)' },
  { name: 'pids-limit', type: 'string', description: 'Tune container pids limit (set -1 for unlimited)', value: 'int' },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host (berth: discarded with a warning, no bridge networking yet)" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports (berth: discarded with a warning)' },
  { name: 'pull', type: 'string', description: 'Pull image before running ("always", "missing", "never")', default: 'missing' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits', default: 'no' },
  { name: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'runtime', type: 'string', description: 'Runtime to use for this container' },
  { name: 'security-opt', type: 'list', description: 'Security Options' },
  { name: 'shm-size', type: 'string', description: 'Size of /dev/shm', value: 'bytes' },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'string', description: 'Timeout (in seconds) to stop a container', value: 'int' },
  { name: 'sysctl', type: 'list', description: 'Sysctl options' },
  { name: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'ulimit', type: 'list', description: 'Ulimit options', value: 'ulimit' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'uts', type: 'string', description: 'UTS namespace to use (host)' },
  { name: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume' },
  { name: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
];

/** go-units RAMInBytes: "64m", "1g", "512k", "1024" (binary multiples). */
export function ramInBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid argument "${text}" for "--${flag}" flag: invalid size: '${text}'`);
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't' | 'p'];
  return Math.round(Number(m[1]) * 1024 ** power);
}

function intFlag(flags: ParsedFlags, name: string): number | undefined {
  const v = str(flags, name);
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid argument "${v}" for "--${name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

export function parseEnvFile(path: string, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    // Not a static import: `import … from 'node:fs'` makes Node load all of fs (promises, streams, readline) at start-up.
    text = process.getBuiltinModule('node:fs').readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid environment variable: ${line} (in ${path})`);
    if (eq < 0) {
      const value = env[line.trim()];
      if (value !== undefined) out.push(`${line.trim()}=${value}`);
    } else out.push(line);
  }
  return out;
}

export function parseUlimit(text: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw new UsageError(`invalid argument "${text}" for "--ulimit" flag: invalid ulimit argument: ${text}`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) throw new UsageError(`invalid argument "${text}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

/** --mount type=bind,source=/a,target=/b,readonly | type=tmpfs,target=/t,tmpfs-size=… | type=volume,source=v,target=/d. */
export function parseMount(text: string): MountPoint {
  const m: MountPoint = { Type: 'volume', Target: '' };
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    const truthy = eq < 0 || ['1', 'true'].includes(value.toLowerCase());
    switch (key) {
      case 'type':
        if (!['bind', 'volume', 'tmpfs'].includes(value)) throw new UsageError(`invalid argument "${text}" for "--mount" flag: invalid type: ${value}`);
        m.Type = value as MountPoint['Type'];
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = truthy;
        break;
      case 'bind-propagation':
        m.BindOptions = { ...(m.BindOptions ?? {}), Propagation: value };
        break;
      case 'volume-nocopy':
        m.VolumeOptions = { ...(m.VolumeOptions ?? {}), NoCopy: truthy };
        break;
      case 'tmpfs-size':
        m.TmpfsOptions = { ...(m.TmpfsOptions ?? {}), SizeBytes: ramInBytes(value, 'mount') };
        break;
      case 'tmpfs-mode':
        m.TmpfsOptions = { ...(m.TmpfsOptions ?? {}), Mode: parseInt(value, 8) };
        break;
      default:
        throw new UsageError(`invalid argument "${text}" for "--mount" flag: unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Target) throw new UsageError(`invalid argument "${text}" for "--mount" flag: target is required`);
  return m;
}

/** The parsers of the rarer flags (container-options-more.ts), loaded only when needsMoreOptions says so. */
export type MoreOptions = typeof import('./container-options-more.ts');

/** Whether these flags need container-options-more.ts: ports, devices, label files, a seccomp profile file, --cidfile. */
export function needsMoreOptions(flags: ParsedFlags): boolean {
  return (
    ['publish', 'expose', 'device', 'label-file', 'security-opt'].some((f) => list(flags, f).length > 0) || str(flags, 'cidfile') !== undefined
  );
}

/** --pid/--ipc/--uts as the docker CLI checks them; what berthd can do with a valid one is its own answer. */
function namespaceMode(flags: ParsedFlags, flag: 'pid' | 'ipc' | 'uts'): string | undefined {
  const mode = str(flags, flag);
  if (mode === undefined || mode === '') return undefined;
  const container = mode.startsWith('container:') && mode.length > 'container:'.length;
  const ok = mode === 'host' || container || (flag === 'ipc' && ['none', 'private', 'shareable'].includes(mode));
  if (!ok) throw new UsageError(`--${flag}: invalid ${flag.toUpperCase()} mode`);
  return mode;
}

/** -v ./dir:/x: a host path starting with "." is made absolute against the working directory (docker CLI 28). */
function absoluteBind(spec: string): string {
  const colon = spec.indexOf(':');
  if (colon <= 0 || !spec.startsWith('.')) return spec;
  return process.getBuiltinModule('node:path').resolve(spec.slice(0, colon)) + spec.slice(colon);
}

export interface CreateInput {
  body: ContainerCreateRequest;
  name: string | undefined;
  image: string;
}

/** Flags + [IMAGE, CMD…] → the create body; `detach` for run -d; `more` when needsMoreOptions(flags). */
export function createRequest(flags: ParsedFlags, args: string[], env: NodeJS.ProcessEnv, opts: { detach: boolean }, more?: MoreOptions): CreateInput {
  if (!more && needsMoreOptions(flags)) throw new Error('createRequest: these flags need container-options-more.ts');
  const [image, ...cmd] = args;
  if (!image) throw new UsageError('an image is required');
  const attach = list(flags, 'attach').map((s) => s.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new UsageError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (opts.detach && attach.length) throw new UsageError('Conflicting options: -a and -d');
  const interactive = bool(flags, 'interactive');
  const tty = bool(flags, 'tty');
  const attachStdin = !opts.detach && (attach.length ? attach.includes('stdin') : interactive);
  const attachStdout = !opts.detach && (attach.length ? attach.includes('stdout') : true);
  const attachStderr = !opts.detach && (attach.length ? attach.includes('stderr') : true);

  const envs: string[] = [];
  for (const f of list(flags, 'env-file')) envs.push(...parseEnvFile(f, env));
  for (const e of list(flags, 'env')) {
    if (e.includes('=')) envs.push(e);
    else if (env[e] !== undefined) envs.push(`${e}=${env[e]}`);
  }
  const labels: Record<string, string> = {};
  for (const f of list(flags, 'label-file')) for (const [k, v] of more!.readLabelFile(f)) labels[k] = v;
  for (const l of list(flags, 'label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const spec of list(flags, 'volume')) {
    const v = absoluteBind(spec);
    const parts = v.split(':');
    if (parts.length === 1) {
      if (!v.startsWith('/')) throw new UsageError(`invalid argument "${v}" for "-v, --volume" flag: invalid mount config: the container path must be absolute`);
      volumes[v] = {};
    } else if (parts.length <= 3 && parts[0] && parts[1]) {
      if (!parts[1].startsWith('/')) throw new UsageError(`invalid argument "${v}" for "-v, --volume" flag: invalid mount path: '${parts[1]}' mount path must be absolute`);
      binds.push(v);
    } else throw new UsageError(`invalid argument "${v}" for "-v, --volume" flag: invalid spec: ${v}`);
  }
  const tmpfs: Record<string, string> = {};
  for (const t of list(flags, 'tmpfs')) {
    const colon = t.indexOf(':');
    const path = colon < 0 ? t : t.slice(0, colon);
    if (!path.startsWith('/')) throw new UsageError(`invalid argument "${t}" for "--tmpfs" flag: the mount path must be absolute`);
    tmpfs[path] = colon < 0 ? '' : t.slice(colon + 1);
  }
  const restartRaw = str(flags, 'restart') ?? 'no';
  const [restartName = 'no', retries] = restartRaw.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(restartName)) {
    throw new UsageError(`invalid restart policy '${restartRaw}': use no, always, unless-stopped or on-failure[:max-retries]`);
  }
  if (retries !== undefined && (restartName !== 'on-failure' || !/^\d+$/.test(retries))) {
    throw new UsageError(`invalid restart policy '${restartRaw}': only on-failure takes a maximum retry count`);
  }
  if (bool(flags, 'rm') && restartName !== 'no') throw new UsageError('Conflicting options: --restart and --rm');
  const cpus = str(flags, 'cpus');
  let nanoCpus = 0;
  if (cpus !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(cpus)) throw new UsageError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    nanoCpus = Math.round(Number(cpus) * 1e9);
  }
  const entrypoint = str(flags, 'entrypoint');
  const network = str(flags, 'network') ?? str(flags, 'net');
  const memory = str(flags, 'memory');
  const shm = str(flags, 'shm-size');
  const logOpts: Record<string, string> = {};
  for (const o of list(flags, 'log-opt')) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid argument "${o}" for "--log-opt" flag: expected key=value`);
    logOpts[o.slice(0, eq)] = o.slice(eq + 1);
  }
  const sysctls: Record<string, string> = {};
  for (const s of list(flags, 'sysctl')) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid argument "${s}" for "--sysctl" flag: sysctl '${s}' is not allowed`);
    sysctls[s.slice(0, eq)] = s.slice(eq + 1);
  }
  const memorySwap = str(flags, 'memory-swap');
  const memoryReservation = str(flags, 'memory-reservation');
  const cpuPeriod = intFlag(flags, 'cpu-period');
  const cpuQuota = intFlag(flags, 'cpu-quota');
  const oomScoreAdj = intFlag(flags, 'oom-score-adj');
  const pidMode = namespaceMode(flags, 'pid');
  const ipcMode = namespaceMode(flags, 'ipc');
  const utsMode = namespaceMode(flags, 'uts');
  const runtime = str(flags, 'runtime');
  const volumesFrom = list(flags, 'volumes-from');
  const devices = list(flags, 'device').map((d) => more!.parseDevice(d));
  const ports = list(flags, 'publish').length ? more!.parsePortSpecs(list(flags, 'publish')) : undefined;
  const exposed = { ...(list(flags, 'expose').length ? more!.parseExpose(list(flags, 'expose')) : {}), ...(ports?.exposed ?? {}) };
  const securityOpt = list(flags, 'security-opt').length ? more!.securityOpts(list(flags, 'security-opt')) : [];
  const cidfile = str(flags, 'cidfile');
  const pidsLimit = intFlag(flags, 'pids-limit');
  const stopTimeout = intFlag(flags, 'stop-timeout');
  const healthcheck = healthcheckFromFlags(flags);
  const hostConfig: HostConfig = {
    Binds: binds.length ? binds : null,
    LogConfig: { Type: str(flags, 'log-driver') ?? '', Config: logOpts },
    NetworkMode: network ?? 'none',
    RestartPolicy: { Name: restartName as 'no', MaximumRetryCount: retries ? Number(retries) : 0 },
    AutoRemove: bool(flags, 'rm'),
    Mounts: list(flags, 'mount').map(parseMount),
    CapAdd: list(flags, 'cap-add').length ? list(flags, 'cap-add') : null,
    CapDrop: list(flags, 'cap-drop').length ? list(flags, 'cap-drop') : null,
    Dns: list(flags, 'dns'),
    ExtraHosts: list(flags, 'add-host').length ? list(flags, 'add-host') : null,
    GroupAdd: list(flags, 'group-add').length ? list(flags, 'group-add') : null,
    Privileged: bool(flags, 'privileged'),
    ReadonlyRootfs: bool(flags, 'read-only'),
    SecurityOpt: securityOpt.length ? securityOpt : null,
    ...(ports ? { PortBindings: ports.bindings } : {}),
    ...(bool(flags, 'publish-all') ? { PublishAllPorts: true } : {}),
    ...(volumesFrom.length ? { VolumesFrom: volumesFrom } : {}),
    ...(devices.length ? { Devices: devices } : {}),
    ...(pidMode ? { PidMode: pidMode } : {}),
    ...(ipcMode ? { IpcMode: ipcMode } : {}),
    ...(utsMode ? { UTSMode: utsMode } : {}),
    ...(runtime ? { Runtime: runtime } : {}),
    ...(cidfile ? { ContainerIDFile: cidfile } : {}),
    ...(oomScoreAdj !== undefined ? { OomScoreAdj: oomScoreAdj } : {}),
    ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}),
    ...(Object.keys(sysctls).length ? { Sysctls: sysctls } : {}),
    ...(shm ? { ShmSize: ramInBytes(shm, 'shm-size') } : {}),
    ...(bool(flags, 'init') ? { Init: true } : {}),
    CpuShares: intFlag(flags, 'cpu-shares') ?? 0,
    Memory: memory ? ramInBytes(memory, 'memory') : 0,
    ...(memorySwap ? { MemorySwap: memorySwap === '-1' ? -1 : ramInBytes(memorySwap, 'memory-swap') } : {}),
    ...(memoryReservation ? { MemoryReservation: ramInBytes(memoryReservation, 'memory-reservation') } : {}),
    ...(cpuPeriod !== undefined ? { CpuPeriod: cpuPeriod } : {}),
    ...(cpuQuota !== undefined ? { CpuQuota: cpuQuota } : {}),
    NanoCpus: nanoCpus,
    CpusetCpus: str(flags, 'cpuset-cpus') ?? '',
    PidsLimit: pidsLimit ?? 0,
    Ulimits: list(flags, 'ulimit').map(parseUlimit),
  };
  const body: ContainerCreateRequest = {
    Hostname: str(flags, 'hostname') ?? '',
    ...(str(flags, 'domainname') ? { Domainname: str(flags, 'domainname')! } : {}),
    User: str(flags, 'user') ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && attachStdin,
    Env: envs.length ? envs : null,
    Cmd: cmd.length ? cmd : null,
    Image: image,
    Volumes: volumes,
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    WorkingDir: str(flags, 'workdir') ?? '',
    Entrypoint: entrypoint === undefined ? null : entrypoint === '' ? [''] : [entrypoint],
    Labels: labels,
    ...(str(flags, 'stop-signal') ? { StopSignal: str(flags, 'stop-signal')! } : {}),
    ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: {} },
  };
  return { body, name: str(flags, 'name'), image };
}
