/**
 * What a subcommand module exports, and what it is given. Modules are loaded
 * lazily (only the one that runs), so `berth version` pays for nothing else.
 */
import type { EngineClient } from '../client/client.ts';
import type { FlagSpec, ParsedFlags } from './args.ts';

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

export interface CommandContext {
  /** e.g. "berth image ls" for messages. */
  commandPath: string;
  flags: ParsedFlags;
  args: string[];
  io: Io;
  env: NodeJS.ProcessEnv;
  /** The daemon client (autostarting berthd on the default socket). */
  client(): Promise<EngineClient>;
  /** -H / --host as given, for commands that print it. */
  host: string | undefined;
}

export interface CommandDef {
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Inclusive bounds on positional arguments. */
  minArgs?: number;
  maxArgs?: number;
  /** Stop flag parsing at the first positional (for commands that pass argv on). */
  noInterspersed?: boolean;
  /** Hand every argument (flags and --help included) to run() unparsed. */
  rawArgs?: boolean;
  run(ctx: CommandContext): Promise<number | void>;
}

export function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}
export function bool(flags: ParsedFlags, name: string): boolean {
  return flags[name] === true;
}
export function list(flags: ParsedFlags, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : [];
}

/** Docker's --filter k=v list → the API's filters JSON. */
export function filtersJson(filters: string[]): string | undefined {
  if (!filters.length) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new Error(`bad format of filter (expected name=value): "${f}"`);
    const key = f.slice(0, eq).trim().toLowerCase();
    (out[key] ??= {})[f.slice(eq + 1)] = true;
  }
  return JSON.stringify(out);
}
