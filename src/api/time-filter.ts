/**
 * Docker's time arguments (since/until for events, until for prune):
 * Unix seconds (with fractions), RFC 3339 dates, or Go durations before now.
 */
import { BerthError } from '../common/errors.ts';

export function parseTimeFilter(value: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  if (/^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    let secs = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) secs += Number(m[1]) * units[m[2]!]!;
    return now / 1000 - secs;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new BerthError('BERTH_API_BAD_TIME', `invalid time "${value}": use Unix seconds, an RFC 3339 date or a duration like 10m`, { status: 400 });
  }
  return t / 1000;
}
