/**
 * Which cgroup hierarchies this host has, read from /proc/self/mountinfo —
 * detected, never assumed:
 *   v1      one hierarchy per controller (or co-mounted group) under /sys/fs/cgroup
 *   v2      one unified hierarchy holding the controllers (most current hosts)
 *   hybrid  v1 hierarchies plus a cgroup2 mount (systemd's "unified" dir) that
 *           holds the controllers v1 does not (often none, here hugetlb)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../common/errors.ts';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export interface CgroupMount {
  type: 'v1' | 'v2';
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** The hierarchy path mounted there ("/" on a host, deeper inside a container). */
  root: string;
  /**
   * v1: the controllers bound to this hierarchy ("cpu", "cpuacct", or
   * "name=systemd" for a named one). v2: the controllers available at its root
   * (cgroup.controllers).
   */
  controllers: string[];
}

export interface CgroupLayout {
  mode: CgroupMode;
  mounts: CgroupMount[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Pure parse of mountinfo text; `readControllers` reads cgroup.controllers for v2 mounts. */
export function parseCgroupMounts(mountinfo: string, readControllers: (mountPoint: string) => string[] = readV2Controllers): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    if (!line) continue;
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const fstype = post[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const root = unescapeMountField(pre[3] ?? '/');
    const mountPoint = unescapeMountField(pre[4] ?? '');
    if (!mountPoint) continue;
    if (fstype === 'cgroup') {
      const superOpts = (post[2] ?? '').split(',');
      const controllers = superOpts.filter((o) => KNOWN_V1_CONTROLLERS.has(o) || o.startsWith('name='));
      if (controllers.length === 0) continue;
      // The same hierarchy can be mounted twice (bind mounts); the first wins.
      const key = `v1:${controllers.sort().join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      mounts.push({ type: 'v1', mountPoint, root, controllers });
    } else {
      if (seen.has('v2')) continue;
      seen.add('v2');
      mounts.push({ type: 'v2', mountPoint, root, controllers: readControllers(mountPoint) });
    }
  }
  return mounts;
}

const KNOWN_V1_CONTROLLERS: ReadonlySet<string> = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

function readV2Controllers(mountPoint: string): string[] {
  try {
    return readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

export function layoutFromMounts(mounts: CgroupMount[]): CgroupLayout {
  const hasV1 = mounts.some((m) => m.type === 'v1' && m.controllers.some((c) => !c.startsWith('name=')));
  const hasV2 = mounts.some((m) => m.type === 'v2');
  if (!hasV1 && !hasV2) {
    throw new BerthError('BERTH_CGROUPS_NOT_MOUNTED', 'no cgroup hierarchy is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)');
  }
  const mode: CgroupMode = hasV1 && hasV2 ? 'hybrid' : hasV1 ? 'v1' : 'v2';
  // A named-only v1 hierarchy (name=systemd) next to a real cgroup2 is v2 for our purposes.
  return { mode, mounts: mode === 'v2' ? mounts.filter((m) => m.type === 'v2') : mounts };
}

export function detectCgroupLayout(mountinfoPath = '/proc/self/mountinfo'): CgroupLayout {
  let text: string;
  try {
    text = readFileSync(mountinfoPath, 'utf8');
  } catch (err) {
    throw new BerthError('BERTH_CGROUPS_NOT_MOUNTED', `cannot read ${mountinfoPath}: ${(err as Error).message}`, { cause: err });
  }
  return layoutFromMounts(parseCgroupMounts(text));
}
