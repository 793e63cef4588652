/** Pieces both drivers use. */
import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { BerthError } from '../../common/errors.ts';
import type { CgroupMount } from './layout.ts';
import { hierarchyDir } from './path.ts';
import { parsePids, sleep, tryReadCgroupFile, writeCgroupFile } from './files.ts';

/** PIDs in a group and all its descendants. */
export function collectProcesses(dir: string): number[] {
  const pids = parsePids(tryReadCgroupFile(dir, 'cgroup.procs'));
  let children: string[] = [];
  try {
    children = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    return pids;
  }
  for (const child of children) pids.push(...collectProcesses(child));
  return pids;
}

export async function waitForEmpty(list: () => Promise<number[]>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if ((await list()).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}

/**
 * cgroup v2 only offers a controller's files in a group when every ancestor
 * has it in cgroup.subtree_control: enable `controllers` from the mount root
 * down to the parent of `cgroupPath` (the group itself keeps its own
 * subtree_control empty so it may hold processes). Returns the controllers
 * that could not be enabled at some level, with the reason.
 */
export function enableV2Controllers(mount: CgroupMount, cgroupPath: string, controllers: string[]): Map<string, string> {
  const failed = new Map<string, string>();
  const leaf = hierarchyDir(mount.mountPoint, mount.root, cgroupPath);
  const rel = posix.relative(mount.mountPoint, leaf).split('/').filter(Boolean);
  let level = mount.mountPoint;
  for (let i = 0; i < rel.length; i++) {
    const available = new Set((tryReadCgroupFile(level, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean));
    const enabled = new Set((tryReadCgroupFile(level, 'cgroup.subtree_control') ?? '').trim().split(/\s+/).filter(Boolean));
    for (const c of controllers) {
      if (failed.has(c) || enabled.has(c)) continue;
      if (!available.has(c)) {
        failed.set(c, `not available in ${level}/cgroup.controllers`);
        continue;
      }
      try {
        writeCgroupFile(level, 'cgroup.subtree_control', `+${c}`);
      } catch (err) {
        failed.set(c, (err as Error).message);
      }
    }
    level = posix.join(level, rel[i]!);
  }
  return failed;
}

/** linux.resources.unified: cgroup v2 files written as given, names checked to stay in the group. */
export function writeUnified(dir: string, unified: Record<string, string>): void {
  for (const [key, value] of Object.entries(unified)) {
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key) || key.includes('..') || key.startsWith('cgroup.procs') || key === 'cgroup.threads') {
      throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.unified: ${JSON.stringify(key)} is not a cgroup v2 interface file name this runtime will write`, { status: 400 });
    }
    if (typeof value !== 'string') {
      throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.unified[${JSON.stringify(key)}]: expected a string value`, { status: 400 });
    }
    writeCgroupFile(dir, key, value);
  }
}
