/**
 * Docker-style flag parsing: --long, --long=value, -s value, -abc (bool
 * shorts combined), -fvalue, repeatable flags, `--` ends flags. Unknown
 * flags are usage errors (exit 125 with "See 'berth X --help'.", as docker).
 */
import { BerthError } from '../common/errors.ts';

export type FlagType = 'bool' | 'string' | 'list';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  description: string;
  /** Shown in help as the value placeholder. */
  value?: string;
  default?: string;
  hidden?: boolean;
}

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

export class UsageError extends BerthError {
  constructor(message: string) {
    super('BERTH_CLI_USAGE', message, { status: 125 });
    this.name = 'UsageError';
  }
}

export function parseFlags(argv: string[], specs: FlagSpec[], commandPath: string, interspersed = true): { flags: ParsedFlags; args: string[] } {
  const flags: ParsedFlags = {};
  for (const s of specs) {
    if (s.type === 'list') flags[s.name] = [];
    else if (s.type === 'bool') flags[s.name] = s.default === 'true';
    else flags[s.name] = s.default;
  }
  const args: string[] = [];
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const see = `See '${commandPath} --help'.`;
  const set = (spec: FlagSpec, value: string | true) => {
    if (spec.type === 'bool') {
      if (value === true) flags[spec.name] = true;
      else if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(value)) flags[spec.name] = true;
      else if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(value)) flags[spec.name] = false;
      else throw new UsageError(`invalid argument "${value}" for "--${spec.name}" flag: strconv.ParseBool: parsing "${value}": invalid syntax\n${see}`);
    } else if (spec.type === 'list') (flags[spec.name] as string[]).push(value as string);
    else flags[spec.name] = value as string;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}\n${see}`);
      if (eq > 0) set(spec, arg.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, true);
      else {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`flag needs an argument: --${name}\n${see}`);
        set(spec, v);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        const spec = byShort.get(ch);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${ch}' in ${arg}\n${see}`);
        if (spec.type === 'bool') {
          if (arg[j + 1] === '=') {
            set(spec, arg.slice(j + 2));
            break;
          }
          set(spec, true);
          continue;
        }
        let v = arg.slice(j + 1);
        if (v.startsWith('=')) v = v.slice(1);
        if (v === '') {
          const next = argv[++i];
          if (next === undefined) throw new UsageError(`flag needs an argument: '${ch}' in -${ch}\n${see}`);
          v = next;
        }
        set(spec, v);
        break;
      }
      continue;
    }
    if (!interspersed) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(arg);
  }
  return { flags, args };
}

export function flagHelp(specs: FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const left = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : ` ${s.value ?? (s.type === 'list' ? 'list' : 'string')}`}`;
      const def = s.default === undefined || s.default === '' ? '' : s.type === 'bool' ? ` (default ${s.default})` : ` (default "${s.default}")`;
      return [left, s.description + def] as const;
    });
  const w = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(w)}   ${d}`).join('\n');
}
