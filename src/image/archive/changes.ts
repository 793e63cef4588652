import { posix } from 'node:path';
import { BerthError } from '../../common/errors.ts';
import type { ContainerConfig } from '../../oci/image-spec.ts';

/**
 * `docker import --change` / `docker commit --change`: Dockerfile instructions
 * that edit an image config. The same subset Docker allows: CMD, ENTRYPOINT,
 * ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. JSON (exec)
 * form and shell form are both accepted where Dockerfile accepts them.
 */
const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

function changeError(change: string, why: string): BerthError {
  return new BerthError('BERTH_IMPORT_INVALID_CHANGE', `invalid --change ${JSON.stringify(change)}: ${why}`, { status: 400 });
}

/** Apply `changes` in order to a copy of `config` and return it. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const out: ContainerConfig = structuredClone(config);
  for (const change of changes) applyChange(out, change);
  return out;
}

function applyChange(config: ContainerConfig, change: string): void {
  const trimmed = change.trim();
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!m) throw changeError(change, 'empty instruction');
  const instruction = m[1]!.toUpperCase();
  const rest = (m[2] ?? '').trim();
  if (!ALLOWED.includes(instruction)) {
    throw changeError(change, `${instruction} is not supported here; allowed: ${ALLOWED.join(', ')}`);
  }
  if (rest === '' && instruction !== 'CMD' && instruction !== 'ENTRYPOINT') throw changeError(change, `${instruction} needs an argument`);
  switch (instruction) {
    case 'CMD':
      config.Cmd = commandForm(change, rest);
      return;
    case 'ENTRYPOINT':
      config.Entrypoint = commandForm(change, rest);
      return;
    case 'ENV':
      for (const [key, value] of keyValues(change, rest, true)) {
        const env = (config.Env ?? []).filter((e) => e.split('=', 1)[0] !== key);
        env.push(`${key}=${value}`);
        config.Env = env;
      }
      return;
    case 'LABEL':
      for (const [key, value] of keyValues(change, rest, false)) {
        config.Labels = { ...(config.Labels ?? {}), [key]: value };
      }
      return;
    case 'EXPOSE':
      for (const port of words(change, rest)) {
        const pm = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
        if (!pm) throw changeError(change, `"${port}" is not a port (80, 80/tcp, 8000-8010/udp)`);
        const proto = (pm[3] ?? 'tcp').toLowerCase();
        const first = Number(pm[1]);
        const last = pm[2] !== undefined ? Number(pm[2]) : first;
        if (first < 1 || last > 65535 || last < first) throw changeError(change, `port range "${port}" is out of 1-65535`);
        config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
        for (let p = first; p <= last; p++) config.ExposedPorts[`${p}/${proto}`] = {};
      }
      return;
    case 'VOLUME': {
      const paths = rest.startsWith('[') ? jsonArray(change, rest) : words(change, rest);
      for (const path of paths) {
        if (path === '') throw changeError(change, 'VOLUME path is empty');
        config.Volumes = { ...(config.Volumes ?? {}), [path]: {} };
      }
      return;
    }
    case 'WORKDIR':
      // Relative WORKDIR is relative to the previous one, as in a Dockerfile.
      config.WorkingDir = posix.resolve(config.WorkingDir || '/', unquote(rest));
      return;
    case 'USER':
      config.User = unquote(rest);
      return;
    case 'STOPSIGNAL': {
      const sig = unquote(rest);
      if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(sig)) throw changeError(change, `"${sig}" is not a signal name or number`);
      config.StopSignal = sig;
      return;
    }
    case 'ONBUILD':
      config.OnBuild = [...(config.OnBuild ?? []), rest];
      return;
  }
}

/** CMD/ENTRYPOINT: a JSON array (exec form) or a string run by /bin/sh -c (shell form). */
function commandForm(change: string, rest: string): string[] | null {
  if (rest === '') return null;
  if (rest.startsWith('[')) {
    try {
      return jsonArray(change, rest);
    } catch (err) {
      // Docker, like a Dockerfile, falls back to shell form when the JSON does not parse.
      if ((err as BerthError).code !== 'BERTH_IMPORT_INVALID_CHANGE') throw err;
    }
  }
  return ['/bin/sh', '-c', rest];
}

function jsonArray(change: string, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw changeError(change, 'not a valid JSON array');
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw changeError(change, 'expected a JSON array of strings');
  return value;
}

/** Split on whitespace, honouring double and single quotes and backslash escapes. */
function words(change: string, text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw changeError(change, `unterminated ${quote} quote`);
  if (inWord) out.push(current);
  return out;
}

function unquote(text: string): string {
  const w = words(text, text);
  return w.length === 1 ? w[0]! : text;
}

/**
 * ENV and LABEL: `k=v k2="v 2"` pairs, or the legacy `ENV key value with spaces`
 * form (only ENV; LABEL needs '=').
 */
function keyValues(change: string, rest: string, legacyForm: boolean): [string, string][] {
  const parts = words(change, rest);
  const first = parts[0] ?? '';
  if (!first.includes('=')) {
    if (!legacyForm) throw changeError(change, 'expected key=value pairs');
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw changeError(change, 'ENV needs a value (ENV KEY=value or ENV KEY value)');
    return [[m[1]!, m[2]!.trim()]];
  }
  return parts.map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw changeError(change, `"${part}" is not key=value`);
    return [part.slice(0, eq), part.slice(eq + 1)];
  });
}
