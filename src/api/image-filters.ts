/**
 * Docker's filters for /images/json and /images/prune, applied to domain
 * facts: dangling, label, before, since, reference, until. Unknown filter
 * names and bad values are 400s, as dockerd answers.
 */
import { BerthError } from '../common/errors.ts';
import { createdSeconds, familiar, type ImageFacts } from './image-json.ts';

const badFilter = (message: string) => new BerthError('BERTH_API_BAD_FILTERS', message, { status: 400 });

/** Go's path.Match subset: `*` (no slash), `?`, and [classes]. */
export function globMatch(pattern: string, text: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i);
      if (close < 0) throw badFilter(`invalid reference filter pattern "${pattern}": unclosed [`);
      re += pattern.slice(i, close + 1).replace(/^\[\^?/, (m) => m.replace('^', '^'));
      i = close;
    } else re += c.replace(/[.+^$(){}|\\/]/g, '\\$&');
  }
  return new RegExp(re + '$').test(text);
}

/** "2026-11-22T10:00:00Z", a unix timestamp, or a Go duration ("10m", "1h30m") before now → seconds. */
export function parseTimeFilter(value: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const duration = /^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value);
  if (duration) {
    const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    let secs = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) secs += Number(m[1]) * units[m[2]!]!;
    return now / 1000 - secs;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw badFilter(`invalid filter time "${value}": use a timestamp, an RFC 3339 date or a duration like 10m`);
  return t / 1000;
}

function labelsMatch(image: ImageFacts, wanted: string[]): boolean {
  const labels = image.config.config?.Labels ?? {};
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, w);
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

function referenceMatches(image: ImageFacts, patterns: string[]): boolean {
  const names = image.repoTags.map(familiar);
  return patterns.some((p) =>
    names.some((n) => {
      const colon = n.lastIndexOf(':');
      const repo = colon > n.lastIndexOf('/') ? n.slice(0, colon) : n;
      return globMatch(p, n) || globMatch(p, repo);
    }),
  );
}

export type ImageResolver = (nameOrId: string) => Promise<ImageFacts>;

/** Build a predicate for /images/json. */
export async function listFilter(filters: Map<string, string[]>, resolve: ImageResolver): Promise<(i: ImageFacts) => boolean> {
  const allowed = ['dangling', 'label', 'before', 'since', 'reference', 'until'];
  for (const key of filters.keys()) if (!allowed.includes(key)) throw badFilter(`invalid filter '${key}'`);
  const tests: ((i: ImageFacts) => boolean)[] = [];
  const dangling = filters.get('dangling');
  if (dangling?.length) {
    const v = dangling[0]!.toLowerCase();
    if (!['true', 'false', '1', '0'].includes(v)) throw badFilter(`invalid filter 'dangling=${dangling[0]}'`);
    const want = v === 'true' || v === '1';
    tests.push((i) => (i.repoTags.length === 0) === want);
  }
  const labels = filters.get('label');
  if (labels?.length) tests.push((i) => labelsMatch(i, labels));
  const refs = filters.get('reference');
  if (refs?.length) tests.push((i) => referenceMatches(i, refs));
  for (const key of ['before', 'since'] as const) {
    const v = filters.get(key);
    if (v?.length) {
      const pivot = createdSeconds((await resolve(v[0]!)).config);
      tests.push(key === 'before' ? (i) => createdSeconds(i.config) < pivot : (i) => createdSeconds(i.config) > pivot);
    }
  }
  const until = filters.get('until');
  if (until?.length) {
    const t = parseTimeFilter(until[0]!);
    tests.push((i) => createdSeconds(i.config) < t);
  }
  return (i) => tests.every((t) => t(i));
}

/** Build a predicate for /images/prune: dangling (default true), until, label (label!= too). */
export function pruneFilter(filters: Map<string, string[]>): (i: ImageFacts) => boolean {
  const allowed = ['dangling', 'until', 'label', 'label!'];
  for (const key of filters.keys()) if (!allowed.includes(key)) throw badFilter(`invalid filter '${key}'`);
  const d = filters.get('dangling')?.[0]?.toLowerCase() ?? 'true';
  if (!['true', 'false', '1', '0'].includes(d)) throw badFilter(`invalid filter 'dangling=${d}'`);
  const onlyDangling = d === 'true' || d === '1';
  const until = filters.get('until')?.[0];
  const untilT = until ? parseTimeFilter(until) : undefined;
  const labels = filters.get('label') ?? [];
  const notLabels = filters.get('label!') ?? [];
  return (i) =>
    (!onlyDangling || i.repoTags.length === 0) &&
    (untilT === undefined || createdSeconds(i.config) < untilT) &&
    (labels.length === 0 || labelsMatch(i, labels)) &&
    (notLabels.length === 0 || !notLabels.some((l) => labelsMatch(i, [l])));
}
