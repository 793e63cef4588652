/**
 * OCI `linux.cgroupsPath` → the path of the container's cgroup inside each
 * hierarchy. Absolute paths are taken from the hierarchy root; relative ones
 * go under berth's parent (/berth). Nothing may climb out with "..".
 */
import { posix } from 'node:path';
import { existsSync } from 'node:fs';
import { BerthError } from '../../common/errors.ts';

export const DEFAULT_CGROUP_PARENT = '/berth';

export interface ResolveCgroupsPathOptions {
  /** Is systemd managing cgroups here? Default: /run/systemd/system exists. */
  systemdRunning?: boolean;
}

/**
 * Normalised absolute cgroup path ("/berth/abc"). `fallbackName` (usually the
 * container id) is used when cgroupsPath is empty, as runc does.
 *
 * systemd-style paths ("system.slice:docker:abc", what dockerd and kubelet
 * send with the systemd cgroup driver) are turned into the directory systemd
 * itself would use (/system.slice/docker-abc.scope) when no systemd manages
 * this host's cgroups — nobody else owns that tree then. With systemd running
 * they need a transient unit over D-Bus, which berth does not do: a clear error.
 */
export function resolveCgroupsPath(cgroupsPath: string | undefined, fallbackName?: string, opts: ResolveCgroupsPathOptions = {}): string {
  let p = cgroupsPath ?? '';
  if (typeof p !== 'string') {
    throw new BerthError('BERTH_CGROUPS_PATH', `linux.cgroupsPath: expected a string, got ${JSON.stringify(p)}`, { status: 400 });
  }
  if (p === '') {
    if (!fallbackName) throw new BerthError('BERTH_CGROUPS_PATH', 'linux.cgroupsPath: empty, and no container id to name the cgroup after', { status: 400 });
    p = fallbackName;
  }
  if (/^[^/:]*:[^:/]*:[^:/]*$/.test(p) && !p.startsWith('/')) {
    const systemd = opts.systemdRunning ?? existsSync('/run/systemd/system');
    if (systemd) {
      throw new BerthError(
        'BERTH_CGROUPS_SYSTEMD_UNSUPPORTED',
        `linux.cgroupsPath ${JSON.stringify(p)} is systemd style (slice:prefix:name) and systemd manages this host's cgroups; berth does not create systemd units — configure the engine for the cgroupfs driver or give a path such as /berth/<id>`,
        { status: 400 },
      );
    }
    return systemdStylePath(p);
  }
  if (p.includes('\0') || p.includes('\n')) {
    throw new BerthError('BERTH_CGROUPS_PATH', `linux.cgroupsPath ${JSON.stringify(p)}: contains a NUL or newline`, { status: 400 });
  }
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) {
    throw new BerthError('BERTH_CGROUPS_PATH', `linux.cgroupsPath ${JSON.stringify(p)}: ".." is not allowed (the cgroup must stay inside the hierarchy)`, { status: 400 });
  }
  if (parts.length === 0) {
    throw new BerthError('BERTH_CGROUPS_PATH', `linux.cgroupsPath ${JSON.stringify(p)}: refers to the hierarchy root; a container needs its own cgroup`, { status: 400 });
  }
  const abs = p.startsWith('/') ? '/' + parts.join('/') : posix.join(DEFAULT_CGROUP_PARENT, ...parts);
  return abs;
}

/**
 * Directory of `cgroupPath` in a hierarchy mounted at `mountPoint` whose mount
 * root is `mountRoot` (inside a container the mount shows only a subtree).
 */
export function hierarchyDir(mountPoint: string, mountRoot: string, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mountRoot !== '/' && (rel === mountRoot || rel.startsWith(mountRoot + '/'))) rel = rel.slice(mountRoot.length) || '/';
  return posix.join(mountPoint, rel);
}

/** "slice:prefix:name" → the cgroup directory systemd uses for that unit. */
export function systemdStylePath(p: string): string {
  const [slice, prefix, name] = p.split(':') as [string, string, string];
  const where = `linux.cgroupsPath ${JSON.stringify(p)}`;
  if (!name) throw new BerthError('BERTH_CGROUPS_PATH', `${where}: systemd style needs a unit name after the second colon`, { status: 400 });
  const unit = name.endsWith('.slice') ? name : prefix ? `${prefix}-${name}.scope` : `${name}.scope`;
  return posix.join(expandSlice(slice || 'system.slice', where), unit);
}

/** systemd slice names nest by dashes: "a-b.slice" lives in /a.slice/a-b.slice. */
function expandSlice(slice: string, where: string): string {
  if (slice === '-.slice' || slice === '-') return '/';
  const bad = () => new BerthError('BERTH_CGROUPS_PATH', `${where}: ${JSON.stringify(slice)} is not a systemd slice name`, { status: 400 });
  if (!slice.endsWith('.slice') || slice.includes('/')) throw bad();
  const base = slice.slice(0, -'.slice'.length);
  if (base === '' || base.startsWith('-') || base.endsWith('-') || base.includes('--')) throw bad();
  let path = '';
  let prefix = '';
  for (const part of base.split('-')) {
    prefix = prefix ? `${prefix}-${part}` : part;
    path += `/${prefix}.slice`;
  }
  return path;
}
