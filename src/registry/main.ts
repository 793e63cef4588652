/**
 * `berth registry serve --addr HOST:PORT --root DIR`: run the registry in the
 * foreground until SIGINT or SIGTERM. The CLI calls runRegistryCommand with
 * the arguments after "registry".
 */
import { BerthError, errorMessage } from '../common/errors.ts';
import { startRegistry } from './server.ts';

export const DEFAULT_REGISTRY_ADDR = '127.0.0.1:5000';

const USAGE = `Usage: berth registry serve [--addr HOST:PORT] --root DIR

Serve an OCI distribution (v2) registry from DIR.

Options:
  --addr HOST:PORT   address to listen on (default ${DEFAULT_REGISTRY_ADDR}; port 0 picks one)
  --root DIR         directory for the registry's data (created if missing)
`;

export interface RegistryServeArgs {
  addr: string;
  root: string;
}

/** Parse `serve --addr X --root Y` (also --addr=X). Throws BERTH_REGISTRY_USAGE. */
export function parseRegistryArgs(argv: string[]): RegistryServeArgs | 'help' {
  const args = [...argv];
  if (args[0] === 'serve') args.shift();
  else if (args[0] === undefined || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') return 'help';
  else throw usage(`unknown registry command "${args[0]}" (expected "serve")`);
  let addr = DEFAULT_REGISTRY_ADDR;
  let root: string | undefined;
  while (args.length > 0) {
    const arg = args.shift()!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? args.shift();
      if (v === undefined || v === '') throw usage(`${flag} needs a value`);
      return v;
    };
    if (flag === '--addr') addr = value();
    else if (flag === '--root') root = value();
    else if (flag === '--help' || flag === '-h') return 'help';
    else throw usage(`unknown flag "${arg}"`);
  }
  if (root === undefined) throw usage('--root DIR is required');
  return { addr, root };
}

/** Serve until SIGINT/SIGTERM; resolves with the exit code. */
export async function runRegistryCommand(argv: string[]): Promise<number> {
  let parsed: RegistryServeArgs | 'help';
  try {
    parsed = parseRegistryArgs(argv);
  } catch (err) {
    process.stderr.write(`berth registry: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let running;
  try {
    running = await startRegistry(parsed);
  } catch (err) {
    process.stderr.write(`berth registry: ${errorMessage(err)}\n`);
    return 1;
  }
  process.stdout.write(`berth registry listening on ${running.url} (root ${parsed.root})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await running.close();
  return 0;
}

function usage(message: string): BerthError {
  return new BerthError('BERTH_REGISTRY_USAGE', message, { status: 400 });
}

// Run directly: node src/registry/main.ts serve --addr … --root …
if (import.meta.main) {
  process.exitCode = await runRegistryCommand(process.argv.slice(2));
}
