/**
 * berthd's command line: flags override environment, environment overrides
 * the defaults in src/common/config.ts.
 */
import { BerthError } from '../common/errors.ts';
import { dataRootFromEnv, DEFAULT_HOST, socketPathFromHost } from '../common/config.ts';
import { isLogLevel, type LogLevel } from './log.ts';

export interface DaemonOptions {
  dataRoot: string;
  socketPath: string;
  insecureRegistries: string[];
  logLevel: LogLevel;
  help: boolean;
  version: boolean;
}

export const DAEMON_USAGE = `Usage: berthd [OPTIONS]

The berth engine: serves the Docker Engine API on a unix socket.

Options:
      --data-root DIR              Root of persistent engine state (default /var/lib/berth, env BERTH_ROOT)
  -H, --host unix:///path.sock     Socket to listen on (default ${DEFAULT_HOST}, env BERTH_HOST)
      --insecure-registry HOST:PORT
                                   Allow plain HTTP to this registry (repeatable; loopback always is)
  -l, --log-level LEVEL            debug, info, warn or error (default info)
  -v, --version                    Print version and exit
  -h, --help                       Print this help
`;

export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonOptions {
  const opts: DaemonOptions = {
    dataRoot: dataRootFromEnv(env),
    socketPath: '',
    insecureRegistries: [],
    logLevel: 'info',
    help: false,
    version: false,
  };
  let host = env.BERTH_HOST || DEFAULT_HOST;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw usageError(`flag needs an argument: ${name}`);
      return v;
    };
    switch (name) {
      case '--data-root':
        opts.dataRoot = value();
        break;
      case '-H':
      case '--host':
        host = value();
        break;
      case '--insecure-registry':
      case '--insecure-registries':
        opts.insecureRegistries.push(value());
        break;
      case '-l':
      case '--log-level': {
        const level = value();
        if (!isLogLevel(level)) throw usageError(`invalid --log-level "${level}": use debug, info, warn or error`);
        opts.logLevel = level;
        break;
      }
      case '-D':
      case '--debug':
        opts.logLevel = 'debug';
        break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      case '-v':
      case '--version':
        opts.version = true;
        break;
      default:
        throw usageError(`unknown flag: ${arg}`);
    }
  }
  try {
    opts.socketPath = socketPathFromHost(host);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (!opts.dataRoot.startsWith('/')) throw usageError(`--data-root must be an absolute path, got "${opts.dataRoot}"`);
  return opts;
}

function usageError(message: string): BerthError {
  return new BerthError('BERTH_DAEMON_USAGE', `berthd: ${message}\nSee 'berthd --help'.`, { status: 400 });
}
