/**
 * Where things live, decided in one place. Every command and the daemon read
 * these defaults; flags override environment, environment overrides defaults.
 */
export const DEFAULT_DATA_ROOT = '/var/lib/berth';
export const DEFAULT_SOCKET = '/run/berth/berth.sock';
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET}`;
/** Engine API version berthd speaks (what docker CLI 28 negotiates down to). */
export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';
/**
 * The one runtime berthd runs containers with: berth's own (the plan and the
 * launcher, the runtime library behind berth-runtime). /info lists it, inspect
 * shows it, create accepts no other.
 */
export const DEFAULT_RUNTIME = 'berth-runtime';

export function dataRootFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_ROOT || DEFAULT_DATA_ROOT;
}

/** BERTH_HOST wins over DOCKER_HOST; both accept unix:///path or a bare path. */
export function hostFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

/** Turn `unix:///run/x.sock` or `/run/x.sock` into a socket path. */
export function socketPathFromHost(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new Error(`unsupported host "${host}": berth listens on unix sockets (unix:///path/to.sock)`);
}
