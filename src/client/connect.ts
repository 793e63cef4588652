/**
 * Which daemon the CLI talks to, and getting one running if it is the default.
 */
import { dataRootFromEnv, DEFAULT_SOCKET, socketPathFromHost } from '../common/config.ts';
import { BerthError } from '../common/errors.ts';
import { DaemonUnreachableError, EngineClient } from './client.ts';

export interface Target {
  socketPath: string;
  /** True when no -H / BERTH_HOST / DOCKER_HOST named it: autostart is allowed. */
  isDefault: boolean;
}

export function resolveTarget(hostFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): Target {
  const named = hostFlag || env.BERTH_HOST || env.DOCKER_HOST;
  if (!named) return { socketPath: DEFAULT_SOCKET, isDefault: true };
  try {
    const socketPath = socketPathFromHost(named);
    return { socketPath, isDefault: false };
  } catch (err) {
    throw new BerthError('BERTH_CLIENT_HOST', (err as Error).message, { status: 400 });
  }
}

/**
 * A client whose daemon answered its ping (API version negotiated). Never
 * starts a daemon: the CLI sends this ping while a command's code is still
 * loading, before it knows the command will need the daemon at all.
 */
export async function reach(target: Target, env: NodeJS.ProcessEnv = process.env): Promise<EngineClient> {
  const client = new EngineClient(target.socketPath, { apiVersion: env.DOCKER_API_VERSION || undefined });
  // An explicit DOCKER_API_VERSION skips negotiation, so check reachability with a ping.
  await (env.DOCKER_API_VERSION ? client.ping() : client.apiVersion());
  return client;
}

/**
 * A client whose daemon answers. For the default socket, starts berthd when
 * none answers; otherwise the "cannot connect" error goes to the user.
 * `first` is a reach() already under way for this target (its answer is used).
 */
export async function connect(target: Target, env: NodeJS.ProcessEnv = process.env, first?: Promise<EngineClient>): Promise<EngineClient> {
  try {
    return await (first ?? reach(target, env));
  } catch (err) {
    if (!(err instanceof DaemonUnreachableError) || !target.isDefault || env.BERTH_NO_AUTOSTART === '1') throw err;
  }
  // Autostart's code (and node:fs, whose ESM import alone loads fs/promises,
  // readline, fs streams…) loads only when a daemon must be started.
  const { startDaemon } = await import('./autostart.ts');
  await startDaemon({ dataRoot: dataRootFromEnv(env), socketPath: target.socketPath });
  const client = new EngineClient(target.socketPath, { apiVersion: env.DOCKER_API_VERSION || undefined });
  await client.apiVersion();
  return client;
}
