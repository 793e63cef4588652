/**
 * Daemon autostart, as a build server does: when nobody answers on the
 * DEFAULT socket, the CLI starts berthd detached (its own session, stdio to
 * <data root>/berthd.log), waits for /_ping, and goes on. Never for an
 * explicit -H / BERTH_HOST / DOCKER_HOST: a user who named a daemon means it.
 */
import { mkdirSync, openSync, closeSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../common/errors.ts';
import { EngineClient } from './client.ts';

/** How to run berthd from wherever this code lives (bundle in dist/, or the source tree). */
export function berthdCommand(): { file: string; args: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  if (process.env.BERTH_BUNDLED === '1') {
    // dist/berth → dist/berthd next to it (the bundle runs on the project's
    // Node); this code may sit in dist/chunks/.
    const launcher = [join(here, 'berthd'), join(here, '..', 'berthd')].find((p) => existsSync(p)) ?? join(here, 'berthd');
    return { file: process.execPath, args: [launcher] };
  }
  const main = join(here, '..', 'daemon', 'main.ts');
  return { file: process.execPath, args: ['--disable-warning=ExperimentalWarning', main] };
}

export async function waitForPing(client: EngineClient, timeoutMs: number, isAlive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline || (isAlive && !isAlive())) throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

export async function startDaemon(options: { dataRoot: string; socketPath: string; timeoutMs?: number }): Promise<number> {
  mkdirSync(options.dataRoot, { recursive: true, mode: 0o711 });
  const logPath = join(options.dataRoot, 'berthd.log');
  const logFd = openSync(logPath, 'a', 0o640);
  const { file, args } = berthdCommand();
  if (!existsSync(args[args.length - 1]!)) {
    closeSync(logFd);
    throw new BerthError('BERTH_CLIENT_NO_BERTHD', `cannot start berthd: ${args[args.length - 1]} is missing (run scripts/setup.sh)`);
  }
  // child_process loads only when a daemon must be started.
  const child = process.getBuiltinModule('node:child_process').spawn(file, [...args, '--data-root', options.dataRoot, '-H', `unix://${options.socketPath}`], {
    detached: true, // setsid(): the daemon outlives this CLI and its terminal
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, BERTH_BUNDLED: undefined },
  });
  closeSync(logFd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  const client = new EngineClient(options.socketPath);
  try {
    await waitForPing(client, options.timeoutMs ?? 15000, () => !exited);
  } catch {
    // Another CLI may have started one at the same moment (ours then exits on the lock): use it if it answers.
    try {
      await client.ping();
      return child.pid ?? 0;
    } catch {
      throw new BerthError(
        'BERTH_CLIENT_AUTOSTART',
        `started berthd but it did not answer on unix://${options.socketPath}; see ${logPath}`,
      );
    }
  }
  return child.pid ?? 0;
}
