/**
 * runc-style argument parsing: global flags before the command, then the
 * command's flags and positionals (flags may also follow positionals, as
 * urfave/cli allows with `--`-less input from shims).
 */
import { BerthError } from '../../common/errors.ts';

export interface FlagSpec {
  /** long name → takes a value? */
  [name: string]: { value: boolean; short?: string; multi?: boolean };
}

export interface Parsed {
  flags: Map<string, string[]>;
  positionals: string[];
}

export function parseFlags(argv: string[], spec: FlagSpec, opts: { stopAtPositional?: boolean } = {}): Parsed & { rest: string[] } {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, s] of Object.entries(spec)) if (s.short) byShort.set(s.short, name);
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      i = argv.length;
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith('--') || (a.startsWith('-') && a.length > 2 && !byShort.has(a.slice(1, 2)))) {
      const body = a.replace(/^--?/, '');
      const eq = body.indexOf('=');
      name = eq >= 0 ? body.slice(0, eq) : body;
      inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    } else if (a.startsWith('-') && a.length >= 2 && a !== '-') {
      name = byShort.get(a.slice(1, 2));
      if (a.length > 2) inline = a.slice(2).replace(/^=/, '');
      if (!name) throw usage(`unknown flag ${a}`);
    } else {
      if (opts.stopAtPositional) break;
      positionals.push(a);
      continue;
    }
    const s = spec[name];
    if (!s) throw usage(`unknown flag --${name}`);
    let value = 'true';
    if (s.value) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw usage(`flag --${name} needs a value`);
    } else if (inline !== undefined) {
      value = inline;
    }
    const list = flags.get(name) ?? [];
    list.push(value);
    flags.set(name, list);
  }
  return { flags, positionals, rest: argv.slice(i) };
}

export function usage(message: string): BerthError {
  return new BerthError('BERTH_RUNTIME_USAGE', message, { status: 400 });
}

export const flag = (p: Parsed, name: string): string | undefined => p.flags.get(name)?.at(-1);
export const flagAll = (p: Parsed, name: string): string[] => p.flags.get(name) ?? [];
export const bool = (p: Parsed, name: string): boolean => {
  const v = flag(p, name);
  return v !== undefined && v !== 'false';
};
