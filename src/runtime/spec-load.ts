import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Spec } from '../oci/runtime-spec.ts';
import { LINUX_NAMESPACE_TYPES } from '../oci/runtime-spec.ts';
import { BerthError } from '../common/errors.ts';
import { configError } from './errors.ts';

/**
 * Reads <bundle>/config.json and checks the shape the runtime depends on.
 * Deeper checks that need the rootfs (args[0], mount destinations) and the
 * capability / seccomp tables happen while the plan is computed; every error
 * names the field.
 */
export function loadSpec(bundle: string): Spec {
  const path = join(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BerthError('BERTH_RUNTIME_BUNDLE', `bundle ${bundle}: cannot read config.json (${code ?? err})`, { status: 400 });
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (err) {
    throw new BerthError('BERTH_RUNTIME_CONFIG_JSON', `${path}: not valid JSON (${(err as Error).message})`, { status: 400 });
  }
  validateSpec(spec);
  return spec;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

export function validateSpec(spec: unknown): asserts spec is Spec {
  if (!isObj(spec)) throw configError('(top level)', 'must be a JSON object');
  if (typeof spec.ociVersion !== 'string') throw configError('ociVersion', 'required string is missing');
  if (!isObj(spec.root)) throw configError('root', 'required object is missing');
  if (typeof spec.root.path !== 'string' || spec.root.path === '') throw configError('root.path', 'required string is missing');
  if (spec.process !== undefined) validateProcess(spec.process, 'process');
  if (spec.mounts !== undefined) {
    if (!Array.isArray(spec.mounts)) throw configError('mounts', 'must be an array');
    spec.mounts.forEach((m, i) => {
      if (!isObj(m)) throw configError(`mounts[${i}]`, 'must be an object');
      if (typeof m.destination !== 'string' || !m.destination.startsWith('/'))
        throw configError(`mounts[${i}].destination`, `must be an absolute path, got ${JSON.stringify(m.destination)}`);
      if (m.options !== undefined && !isStrArray(m.options)) throw configError(`mounts[${i}].options`, 'must be an array of strings');
      if (m.source !== undefined && typeof m.source !== 'string') throw configError(`mounts[${i}].source`, 'must be a string');
      if (m.type !== undefined && typeof m.type !== 'string') throw configError(`mounts[${i}].type`, 'must be a string');
    });
  }
  if (spec.hooks !== undefined) {
    if (!isObj(spec.hooks)) throw configError('hooks', 'must be an object');
    for (const [name, list] of Object.entries(spec.hooks)) {
      if (!Array.isArray(list)) throw configError(`hooks.${name}`, 'must be an array');
      list.forEach((h, i) => {
        if (!isObj(h) || typeof h.path !== 'string' || !isAbsolute(h.path))
          throw configError(`hooks.${name}[${i}].path`, 'must be an absolute path');
        if (h.timeout !== undefined && (!Number.isInteger(h.timeout) || (h.timeout as number) <= 0))
          throw configError(`hooks.${name}[${i}].timeout`, 'must be a positive integer (seconds)');
      });
    }
  }
  const linux = spec.linux;
  if (linux !== undefined) {
    if (!isObj(linux)) throw configError('linux', 'must be an object');
    if (linux.namespaces !== undefined) {
      if (!Array.isArray(linux.namespaces)) throw configError('linux.namespaces', 'must be an array');
      const seen = new Set<string>();
      linux.namespaces.forEach((ns, i) => {
        if (!isObj(ns) || !(LINUX_NAMESPACE_TYPES as readonly unknown[]).includes(ns.type))
          throw configError(`linux.namespaces[${i}].type`, `unknown namespace type ${JSON.stringify(isObj(ns) ? ns.type : ns)} (known: ${LINUX_NAMESPACE_TYPES.join(', ')})`);
        if (seen.has(ns.type as string)) throw configError(`linux.namespaces[${i}].type`, `namespace ${ns.type} listed twice`);
        seen.add(ns.type as string);
        if (ns.path !== undefined && (typeof ns.path !== 'string' || !isAbsolute(ns.path)))
          throw configError(`linux.namespaces[${i}].path`, 'must be an absolute path');
      });
    }
    for (const key of ['uidMappings', 'gidMappings'] as const) {
      const maps = linux[key];
      if (maps === undefined) continue;
      if (!Array.isArray(maps)) throw configError(`linux.${key}`, 'must be an array');
      maps.forEach((m, i) => {
        if (!isObj(m) || !isUint(m.containerID) || !isUint(m.hostID) || !isUint(m.size) || m.size === 0)
          throw configError(`linux.${key}[${i}]`, 'needs containerID, hostID and a non-zero size');
      });
    }
    for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
      const v = linux[key];
      if (v === undefined) continue;
      if (!isStrArray(v)) throw configError(`linux.${key}`, 'must be an array of strings');
      v.forEach((p, i) => {
        if (!p.startsWith('/')) throw configError(`linux.${key}[${i}]`, `must be an absolute path, got ${JSON.stringify(p)}`);
      });
    }
    if (linux.devices !== undefined) {
      if (!Array.isArray(linux.devices)) throw configError('linux.devices', 'must be an array');
      linux.devices.forEach((d, i) => {
        if (!isObj(d) || typeof d.path !== 'string' || !d.path.startsWith('/dev/'))
          throw configError(`linux.devices[${i}].path`, 'must be a path under /dev');
        if (!['c', 'b', 'u', 'p'].includes(d.type as string))
          throw configError(`linux.devices[${i}].type`, `must be one of c, b, u, p, got ${JSON.stringify(d.type)}`);
      });
    }
  }
}

function validateProcess(p: unknown, where: string): void {
  if (!isObj(p)) throw configError(where, 'must be an object');
  if (!isStrArray(p.args) || p.args.length === 0 || p.args[0] === '')
    throw configError(`${where}.args`, 'must be a non-empty array of strings');
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw configError(`${where}.cwd`, `must be an absolute path, got ${JSON.stringify(p.cwd)}`);
  if (!isObj(p.user)) throw configError(`${where}.user`, 'required object is missing');
  if (!isUint(p.user.uid)) throw configError(`${where}.user.uid`, 'must be a non-negative integer');
  if (!isUint(p.user.gid)) throw configError(`${where}.user.gid`, 'must be a non-negative integer');
  if (p.user.additionalGids !== undefined && !(Array.isArray(p.user.additionalGids) && p.user.additionalGids.every(isUint)))
    throw configError(`${where}.user.additionalGids`, 'must be an array of non-negative integers');
  if (p.env !== undefined && !isStrArray(p.env)) throw configError(`${where}.env`, 'must be an array of strings');
  // runc's checks when it builds the environment.
  (p.env ?? []).forEach((e, i) => {
    if (!e.includes('=')) throw configError(`${where}.env[${i}]`, `invalid environment variable: ${JSON.stringify(e)}`);
    if (e.startsWith('=')) throw configError(`${where}.env[${i}]`, `environment variable name can't be empty: ${JSON.stringify(e)}`);
  });
  if (p.rlimits !== undefined) {
    if (!Array.isArray(p.rlimits)) throw configError(`${where}.rlimits`, 'must be an array');
  }
  if (p.capabilities !== undefined && !isObj(p.capabilities)) throw configError(`${where}.capabilities`, 'must be an object');
}

export { validateProcess };

/**
 * The rootfs host path: root.path relative to the bundle (its real path, as
 * runc works from the bundle as its cwd), which must be a directory and, as
 * runc requires, no symlink anywhere on the way.
 */
export function rootfsPath(spec: Spec, bundle: string): string {
  let base = bundle;
  try {
    base = realpathSync(bundle);
  } catch {
    /* reported below through the rootfs */
  }
  const p = resolve(base, spec.root!.path);
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new BerthError('BERTH_RUNTIME_ROOTFS_MISSING', `config.json: root.path: rootfs ${p} does not exist`, { status: 400 });
  }
  if (!st.isDirectory()) throw new BerthError('BERTH_RUNTIME_ROOTFS_MISSING', `config.json: root.path: rootfs ${p} is not a directory`, { status: 400 });
  const real = realpathSync(p);
  if (real !== p) throw configError('root.path', `invalid rootfs: not an absolute path, or a symlink (${p} resolves to ${real})`);
  return p;
}
