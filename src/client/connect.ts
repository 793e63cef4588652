/**
 * Which daemon the CLI talks to, and getting one running if it is the default.
 */
import { dataRootFromEnv, DEFAULT_SOCKET, socketPathFromHost } from '../common/config.ts';
import { BerthError } from '../common/errors.ts';
import { DaemonUnreachableError, EngineClient } from './client.ts';
import { startDaemon } from './autostart.ts';

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
 * A client whose daemon answers. For the default socket, starts berthd when
 * none answers; otherwise the "cannot connect" error goes to the user.
 */
export async function connect(target: Target, env: NodeJS.ProcessEnv = process.env): Promise<EngineClient> {
  const client = new EngineClient(target.socketPath, { apiVersion: env.DOCKER_API_VERSION || undefined });
  try {
    // An explicit DOCKER_API_VERSION skips negotiation, so check reachability with a ping.
    await (env.DOCKER_API_VERSION ? client.ping() : client.apiVersion());
    return client;
  } catch (err) {
    if (!(err instanceof DaemonUnreachableError) || !target.isDefault || env.BERTH_NO_AUTOSTART === '1') throw err;
  }
  await startDaemon({ dataRoot: dataRootFromEnv(env), socketPath: target.socketPath });
  await client.apiVersion();
  return client;
}
