/**
 * berthd: owns the data root, serves the Engine API on a unix socket.
 *   berthd [--data-root DIR] [-H unix:///path.sock] [--insecure-registry host:port] [--log-level L]
 * Stops gracefully on SIGTERM/SIGINT: closes the server, removes socket, pid and lock.
 */
import { errorMessage, isBerthError } from '../common/errors.ts';
import { ApiServer } from '../api/server.ts';
import { buildRouter } from '../api/routes.ts';
import { BERTH_VERSION } from '../api/build-info.ts';
import { DAEMON_USAGE, parseDaemonArgs } from './args.ts';
import { acquireDaemonLock } from './lock.ts';
import { makeLogger } from './log.ts';
import { closeEngine, openEngine } from './engine.ts';

export async function runDaemon(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseDaemonArgs(argv);
  } catch (err) {
    process.stderr.write(errorMessage(err) + '\n');
    return 2;
  }
  if (opts.help) {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  if (opts.version) {
    process.stdout.write(`berthd version ${BERTH_VERSION}\n`);
    return 0;
  }
  const log = makeLogger(opts.logLevel);
  let lock;
  try {
    lock = await acquireDaemonLock(opts.dataRoot);
  } catch (err) {
    log('error', errorMessage(err));
    return 1;
  }
  let engine;
  let server: ApiServer | undefined;
  try {
    engine = await openEngine({
      dataRoot: opts.dataRoot,
      insecureRegistries: opts.insecureRegistries,
      debug: opts.logLevel === 'debug',
    });
    server = new ApiServer({ router: buildRouter(engine), log });
    await server.listen(opts.socketPath);
  } catch (err) {
    log('error', `cannot start: ${errorMessage(err)}`);
    await server?.close().catch(() => {});
    if (engine) await closeEngine(engine).catch(() => {});
    await lock.release();
    return isBerthError(err) ? 1 : 1;
  }
  log('info', `berthd ${BERTH_VERSION} (pid ${process.pid}) serving the Engine API on unix://${opts.socketPath}, data root ${opts.dataRoot}`);

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log('info', `${signal} received: shutting down`);
      try {
        await server!.close();
        await closeEngine(engine!);
      } catch (err) {
        log('error', `shutdown: ${errorMessage(err)}`);
      } finally {
        await lock.release();
        log('info', 'stopped');
        resolve(0);
      }
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}

runDaemon(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berthd: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
