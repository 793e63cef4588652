/**
 * Docker's (go-units) human-readable sizes and durations, so berthd's progress
 * strings and the CLI's tables read exactly like Docker's.
 */
const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's `%.Ng`: N significant digits, trailing zeros dropped. */
export function formatG(value: number, precision: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  if (exp < -4 || exp >= precision) {
    const [mant, e] = value.toExponential(precision - 1).split('e');
    const m = mant!.includes('.') ? mant!.replace(/\.?0+$/, '') : mant!;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const s = value.toPrecision(precision);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function scaled(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${formatG(size, precision)}${units[i]}`;
}

/** go-units HumanSize: decimal units, 4 significant digits ("1.069MB"). */
export function humanSize(bytes: number, precision = 4): string {
  return scaled(bytes, 1000, DECIMAL, precision);
}

/** go-units BytesSize: binary units ("1.93GiB"). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, BINARY, 4);
}

/** go-units HumanDuration: "Less than a second", "6 minutes", "2 weeks", "3 years". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(ms / 60000);
  const hours = Math.round(ms / 3600000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** Parse "10MB", "1.5GiB", "512" (bytes) — for filters and flags. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$/i.exec(text);
  if (!m) throw new Error(`invalid size: "${text}"`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const binary = unit.includes('i');
  const base = binary ? 1024 : 1000;
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 }[unit.replace(/i?b?$/, '')] ?? 0;
  return Math.round(n * base ** power);
}
