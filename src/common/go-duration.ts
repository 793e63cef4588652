/**
 * Go's time.Duration as Docker's users meet it: the flag syntax
 * (time.ParseDuration: "1s", "1.5m", "1h30m", "500ms", a bare "0") and the
 * String() form dockerd prints in messages ("30s", "1m0s", "1.5s", "500ms").
 * Durations are nanoseconds, as in the Engine API's JSON.
 */
import { invalidArgument } from './errors.ts';

const UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** time.ParseDuration; the errors carry Go's wording ("time: missing unit in duration \"5\""). */
export function parseGoDuration(text: string): number {
  const bad = (why: string) => invalidArgument('BERTH_DURATION_INVALID', `time: ${why}`);
  const quoted = JSON.stringify(text);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad(`invalid duration ${quoted}`);
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const [whole = '', frac] = [num[1], num[2]];
    if (whole === '' && (frac === undefined || frac === '')) throw bad(`invalid duration ${quoted}`);
    s = s.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === '') throw bad(`missing unit in duration ${quoted}`);
    const scale = UNITS[unit];
    if (scale === undefined) throw bad(`unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    s = s.slice(unit.length);
    total += Number(whole || '0') * scale + (frac ? Math.round(Number(`0.${frac}`) * scale) : 0);
  }
  if (total > 2 ** 63 - 1) throw bad(`invalid duration ${quoted}`);
  return sign * total;
}

/** `v / unit` with the fraction's trailing zeros dropped, as Go prints it. */
function fixed(v: number, unit: number, digits: number): string {
  const whole = Math.floor(v / unit);
  const frac = Math.round(v - whole * unit);
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** time.Duration.String(): "0s", "250ms", "1.5µs", "30s", "1m0s", "1h2m3.5s". */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.round(Math.abs(ns));
  let out: string;
  if (u < 1e3) out = `${u}ns`;
  else if (u < 1e6) out = `${fixed(u, 1e3, 3)}µs`;
  else if (u < 1e9) out = `${fixed(u, 1e6, 6)}ms`;
  else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    out = `${fixed(u, 1e9, 9)}s`;
    if (h > 0 || m > 0) out = `${m}m${out}`;
    if (h > 0) out = `${h}h${out}`;
  }
  return neg ? `-${out}` : out;
}
