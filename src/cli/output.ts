/**
 * Small output helpers shared by commands: Docker's id truncation, its
 * relative times, and the CLI's "Mon Jan 2 15:04:05 2006" dates.
 */
import { humanDuration, humanSize } from '../api/units.ts';

export function shortId(id: string): string {
  const hex = id.startsWith('sha256:') ? id.slice(7) : id;
  return hex.slice(0, 12);
}

/** "6 minutes ago", from seconds since the epoch. */
export function since(unixSeconds: number, now = Date.now()): string {
  if (!unixSeconds || unixSeconds <= 0) return 'N/A';
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** docker's table sizes: 3 significant digits ("1.99MB"). */
export function tableSize(bytes: number): string {
  return humanSize(bytes, 3);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.ANSIC layout in UTC, as `docker version` prints Built. */
export function formatGoDate(d: Date): string {
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** "2006-01-02 15:04:05 -0700 MST" as docker prints CreatedAt. */
export function formatCreatedAt(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

/**
 * Go's sortorder.NaturalLess, the order the docker CLI lists volumes and
 * networks in: digit runs compare as numbers and sort before other
 * characters, everything else bytewise.
 */
export function naturalCompare(a: string, b: string): number {
  const digit = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const d1 = digit(a, i);
    const d2 = digit(b, j);
    if (d1 !== d2) return d1 ? -1 : 1;
    if (!d1) {
      if (a[i] !== b[j]) return a[i]! < b[j]! ? -1 : 1;
      i++;
      j++;
      continue;
    }
    while (i < a.length && a[i] === '0') i++;
    while (j < b.length && b[j] === '0') j++;
    const n1 = i;
    const n2 = j;
    while (digit(a, i)) i++;
    while (digit(b, j)) j++;
    if (i - n1 !== j - n2) return i - n1 < j - n2 ? -1 : 1;
    const x = a.slice(n1, i);
    const y = b.slice(n2, j);
    if (x !== y) return x < y ? -1 : 1;
    if (n1 !== n2) return n1 < n2 ? -1 : 1;
  }
  // Equal so far: the shorter string sorts first (Go compares the whole lengths).
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}
