/**
 * OCI `linux.cgroupsPath` → the path of the container's cgroup inside each
 * hierarchy. Absolute paths are taken from the hierarchy root; relative ones
 * go under berth's parent (/berth). Nothing may climb out with "..".
 */
import { posix } from 'node:path';
import { BerthError } from '../../common/errors.ts';

export const DEFAULT_CGROUP_PARENT = '/berth';

/**
 * Normalised absolute cgroup path ("/berth/abc"). `fallbackName` (usually the
 * container id) is used when cgroupsPath is empty, as runc does.
 */
export function resolveCgroupsPath(cgroupsPath: string | undefined, fallbackName?: string): string {
  let p = cgroupsPath ?? '';
  if (typeof p !== 'string') {
    throw new BerthError('BERTH_CGROUPS_PATH', `linux.cgroupsPath: expected a string, got ${JSON.stringify(p)}`, { status: 400 });
  }
  if (p === '') {
    if (!fallbackName) throw new BerthError('BERTH_CGROUPS_PATH', 'linux.cgroupsPath: empty, and no container id to name the cgroup after', { status: 400 });
    p = fallbackName;
  }
  if (/^[^/:]*:[^:]*:[^:]*$/.test(p) && !p.startsWith('/')) {
    throw new BerthError(
      'BERTH_CGROUPS_SYSTEMD_UNSUPPORTED',
      `linux.cgroupsPath ${JSON.stringify(p)} is systemd style (slice:prefix:name); berth drives cgroupfs directly — give a path such as /berth/<id>`,
      { status: 400 },
    );
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
