/**
 * /_ping, /version, /info, /auth — what every client calls first.
 * Shapes and headers follow protocol-traces/docker-version.txt.
 */
import { cpus, hostname, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { BerthError } from '../common/errors.ts';
import { API_VERSION, DEFAULT_RUNTIME, MIN_API_VERSION } from '../common/config.ts';
import type { RequestContext } from './context.ts';
import type { Router } from './router.ts';
import type { AuthConfig, InfoResponse, VersionResponse } from './types.ts';
import { PING_CACHE_HEADERS } from './types.ts';
import { BERTH_VERSION, GIT_COMMIT } from './build-info.ts';

/** Docker's names for CPU architectures (GOARCH). */
export { goArch } from '../common/go-arch.ts';
import { goArch } from '../common/go-arch.ts';

const BUILD_TIME = new Date().toISOString();

export function versionResponse(): VersionResponse {
  const kernel = release();
  return {
    Platform: { Name: 'berth' },
    Components: [
      {
        Name: 'Engine',
        Version: BERTH_VERSION,
        Details: {
          ApiVersion: API_VERSION,
          Arch: goArch(),
          BuildTime: BUILD_TIME,
          Experimental: 'false',
          GitCommit: GIT_COMMIT,
          GoVersion: `node ${process.version}`,
          KernelVersion: kernel,
          MinAPIVersion: MIN_API_VERSION,
          Os: 'linux',
        },
      },
    ],
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: GIT_COMMIT,
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: kernel,
    BuildTime: BUILD_TIME,
  };
}

function ping(ctx: RequestContext): void {
  const res = ctx.res!;
  const body = ctx.req.method === 'HEAD' ? '' : 'OK';
  res.writeHead(200, {
    ...PING_CACHE_HEADERS,
    'Content-Length': Buffer.byteLength(body),
    'Content-Type': 'text/plain; charset=utf-8',
    'Builder-Version': '1',
  });
  res.end(body);
}

function osPrettyName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

function cgroupVersion(): string {
  try {
    // cgroup2 mounted at /sys/fs/cgroup itself means a pure v2 host.
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    return /^\S+ \/sys\/fs\/cgroup cgroup2 /m.test(mounts) ? '2' : '1';
  } catch {
    return '1';
  }
}

/** The runtimes /info lists: berth's own only (DEFAULT_RUNTIME). */
export const RUNTIMES: Record<string, { path: string }> = { [DEFAULT_RUNTIME]: { path: DEFAULT_RUNTIME } };

/** What /info warns about, as dockerd does (the docker CLI prints these lines on stderr). */
export const INFO_WARNINGS = [
  'WARNING: No bridge network: a container gets a private network namespace with loopback only (--network none, also what default and bridge mean here), or the host\'s with --network host',
];

export interface InfoSource {
  id: string;
  dataRoot: string;
  insecureRegistries: string[];
  debug: boolean;
  /** Where berth-init is, when installed (--init). */
  initBinary?: string;
  imageCount: () => Promise<number>;
  containerCounts?: () => { total: number; running: number; paused: number; stopped: number };
}

/** A component's version as /info reports it (Expected equal: the docker CLI prints no "expected" note). */
function commit(id: string): { ID: string; Expected: string } {
  return { ID: id, Expected: id };
}

export async function infoResponse(src: InfoSource): Promise<InfoResponse> {
  const insecure = ['127.0.0.0/8', ...src.insecureRegistries.filter((r) => /^[\d.]+\/\d+$/.test(r))];
  const indexConfigs: InfoResponse['RegistryConfig']['IndexConfigs'] = {
    'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true },
  };
  for (const r of src.insecureRegistries) indexConfigs[r] = { Name: r, Mirrors: [], Secure: false, Official: false };
  const counts = src.containerCounts?.() ?? { total: 0, running: 0, paused: 0, stopped: 0 };
  return {
    ID: src.id,
    Containers: counts.total,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: await src.imageCount(),
    Driver: 'overlay2',
    DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
    Plugins: { Volume: ['local'], Network: ['host', 'none'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    KernelMemory: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: false,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: src.debug,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: osPrettyName(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: insecure,
      IndexConfigs: indexConfigs,
      Mirrors: [],
    },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: src.dataRoot,
    HttpProxy: process.env.HTTP_PROXY ?? '',
    HttpsProxy: process.env.HTTPS_PROXY ?? '',
    NoProxy: process.env.NO_PROXY ?? '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: BERTH_VERSION,
    Runtimes: RUNTIMES,
    DefaultRuntime: DEFAULT_RUNTIME,
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    // No containerd and no runc: berthd supervises containers itself (berth-monitor), its runtime is berth's.
    InitBinary: src.initBinary ? 'berth-init' : '',
    ContainerdCommit: commit(`berthd ${BERTH_VERSION}`),
    RuncCommit: commit(`${DEFAULT_RUNTIME} ${BERTH_VERSION}`),
    InitCommit: commit(src.initBinary ? `berth-init ${BERTH_VERSION}` : ''),
    SecurityOptions: ['name=seccomp,profile=builtin'],
    Warnings: INFO_WARNINGS,
  };
}

export interface SystemRoutesDeps {
  info: InfoSource;
  /** Check credentials against a registry; resolves on success, throws a 401-status BerthError on failure. */
  login?: (auth: AuthConfig) => Promise<{ identityToken?: string }>;
}

export function addSystemRoutes(router: Router, deps: SystemRoutesDeps): void {
  router.get('/_ping', ping);
  router.head('/_ping', ping);
  router.get('/version', (ctx) => ctx.sendJson(200, versionResponse()));
  router.get('/info', async (ctx) => ctx.sendJson(200, await infoResponse(deps.info)));
  router.post('/auth', async (ctx) => {
    const auth = await ctx.jsonObject<AuthConfig>();
    if (!deps.login) {
      throw new BerthError('BERTH_API_NOT_SUPPORTED', 'login is not supported by this daemon', { status: 501 });
    }
    const result = await deps.login(auth);
    ctx.sendJson(200, { Status: 'Login Succeeded', IdentityToken: result.identityToken ?? '' });
  });
}
