import { readFileSync } from 'node:fs';

/** A cgroup hierarchy mounted on the host (from /proc/self/mountinfo). */
export interface HostCgroupMount {
  /** Host mount point, e.g. /sys/fs/cgroup/memory */
  mountPoint: string;
  /** "cgroup" (v1) or "cgroup2" */
  fsType: string;
  /** v1 super options naming the controllers, e.g. "cpu,cpuacct" or "name=systemd"; "" for v2 */
  controllers: string;
}

let cached: HostCgroupMount[] | undefined;

const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The host's cgroup mounts, read once per process (mountinfo does not change under us for this). */
export function hostCgroupMounts(): HostCgroupMount[] {
  if (cached) return cached;
  const out: HostCgroupMount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const superOpts = (right[2] ?? '').split(',');
    const controllers = fsType === 'cgroup2' ? '' : superOpts.filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent') && o !== 'clone_children' && o !== 'noprefix' && o !== 'xattr').join(',');
    out.push({ mountPoint: unescape(left[4]!), fsType, controllers });
  }
  cached = out;
  return out;
}

/** True when the host's only cgroup hierarchy is cgroup v2 at /sys/fs/cgroup. */
export function isCgroup2Only(): boolean {
  const mounts = hostCgroupMounts();
  return mounts.length > 0 && mounts.every((m) => m.fsType === 'cgroup2');
}

/** The mount a path lives on, from this process's mountinfo. */
export interface MountOfPath {
  /** Its mount point: the longest one that is the path or a parent of it. */
  mountPoint: string;
  /** Its propagation has a peer group here ("shared:N" in the optional fields). */
  shared: boolean;
}

/**
 * The mount `path` (a real path, no symlinks) is on. Read fresh on every call:
 * mounts come and go. When a mount point is covered by a later mount, the
 * later one (listed after it) is the one in effect.
 */
export function mountOf(path: string): MountOfPath | undefined {
  let best: MountOfPath | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const mountPoint = unescape(left[4] ?? '');
    const under = mountPoint === '/' || path === mountPoint || path.startsWith(mountPoint + '/');
    if (!under || (best && mountPoint.length < best.mountPoint.length)) continue;
    best = { mountPoint, shared: left.slice(6).some((f) => f.startsWith('shared:')) };
  }
  return best;
}
