/**
 * `berth registry serve --addr HOST:PORT --root DIR`: run the registry in the
 * foreground until SIGINT or SIGTERM; `berth registry gc --root DIR
 * [--dry-run]`: delete blobs no stored manifest references (offline). The CLI
 * calls runRegistryCommand with the arguments after "registry".
 */
import { BerthError, errorMessage } from '../common/errors.ts';
import { startRegistry } from './server.ts';
import { collectGarbage } from './gc.ts';

export const DEFAULT_REGISTRY_ADDR = '127.0.0.1:5000';

const USAGE = `Usage: berth registry serve [--addr HOST:PORT] --root DIR
       berth registry gc --root DIR [--dry-run]

serve   Serve an OCI distribution (v2) registry from DIR until SIGINT/SIGTERM.
gc      Delete blobs no stored manifest is or references: layers of deleted
        images, uploads never used (the registry must not be running on DIR).

Options:
  --addr HOST:PORT   address to listen on (default ${DEFAULT_REGISTRY_ADDR}; port 0 picks one)
  --root DIR         directory for the registry's data (created if missing)
  --dry-run          gc: list what would be deleted, delete nothing
`;

export interface RegistryServeArgs {
  command: 'serve';
  addr: string;
  root: string;
}

export interface RegistryGcArgs {
  command: 'gc';
  root: string;
  dryRun: boolean;
}

/** Parse `serve --addr X --root Y` or `gc --root Y [--dry-run]` (also --flag=value). Throws BERTH_REGISTRY_USAGE. */
export function parseRegistryArgs(argv: string[]): RegistryServeArgs | RegistryGcArgs | 'help' {
  const args = [...argv];
  const command = args.shift();
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return 'help';
  if (command !== 'serve' && command !== 'gc') throw usage(`unknown registry command "${command}" (expected "serve" or "gc")`);
  let addr = DEFAULT_REGISTRY_ADDR;
  let root: string | undefined;
  let dryRun = false;
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
    if (flag === '--addr' && command === 'serve') addr = value();
    else if (flag === '--root') root = value();
    else if (flag === '--dry-run' && command === 'gc' && inline === undefined) dryRun = true;
    else if (flag === '--help' || flag === '-h') return 'help';
    else throw usage(`unknown flag "${arg}"`);
  }
  if (root === undefined) throw usage('--root DIR is required');
  return command === 'serve' ? { command, addr, root } : { command, root, dryRun };
}

/** Run `serve` (until SIGINT/SIGTERM) or `gc`; resolves with the exit code. */
export async function runRegistryCommand(argv: string[]): Promise<number> {
  let parsed: RegistryServeArgs | RegistryGcArgs | 'help';
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
  if (parsed.command === 'gc') return runGc(parsed);
  let running;
  try {
    running = await startRegistry({ addr: parsed.addr, root: parsed.root, log: (line) => process.stderr.write(`berth registry: ${line}\n`) });
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

async function runGc(args: RegistryGcArgs): Promise<number> {
  try {
    const result = await collectGarbage(args.root, { dryRun: args.dryRun });
    for (const blob of result.removed) process.stdout.write(`${args.dryRun ? 'would delete' : 'deleted'} ${blob.digest} (${blob.size} bytes)\n`);
    const mib = (result.freedBytes / (1024 * 1024)).toFixed(1);
    process.stdout.write(`${result.removed.length} blobs ${args.dryRun ? 'to delete' : 'deleted'} (${mib} MiB), ${result.kept} kept\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`berth registry gc: ${errorMessage(err)}\n`);
    return 1;
  }
}

function usage(message: string): BerthError {
  return new BerthError('BERTH_REGISTRY_USAGE', message, { status: 400 });
}

// Run directly: node src/registry/main.ts serve --addr … --root …
if (import.meta.main) {
  process.exitCode = await runRegistryCommand(process.argv.slice(2));
}
