/**
 * Starting a container's process: mount its rootfs, create its cgroups,
 * compute the launcher plan and hand the launch to a berth-monitor, which
 * stays with the container. Nothing here blocks on the container's life;
 * the service watches the monitor for the exit.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spec } from '../oci/runtime-spec.ts';
import type { Mount as SnapshotMount } from '../snapshot/types.ts';
import { mountAll, unmount } from '../snapshot/mount.ts';
import { computePlan } from '../runtime/plan.ts';
import { launcherPath, followLauncher } from '../runtime/launcher.ts';
import { createCgroupManager, type CgroupManager } from '../runtime/cgroups/index.ts';
import { spawnMonitor, type PendingMonitor } from './monitor.ts';
import { BerthError } from '../common/errors.ts';

export interface LogSettings {
  path: string;
  maxSize: number;
  maxFiles: number;
}

export interface StartProcessRequest {
  /** The container's directory (state, logs). */
  dir: string;
  /** A short directory for the monitor's sockets (unix socket paths are limited to 108 bytes). */
  socketDir: string;
  /** Mounts of the container's writable snapshot, assembled at <dir>/rootfs. */
  rootfsMounts: SnapshotMount[];
  spec: Spec;
  openStdin: boolean;
  stdinOnce: boolean;
  log: LogSettings;
  /** Runs once the monitor listens and before the process starts: connect attach clients here. */
  beforeStart?: (socketDir: string) => Promise<void>;
}

export interface StartedProcess {
  pid: number;
  monitorPid: number;
  cgroup: CgroupManager;
}

export function rootfsDir(dir: string): string {
  return join(dir, 'rootfs');
}

/** True when something is mounted at <dir>/rootfs (a different device than its parent). */
export async function isRootfsMounted(dir: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(rootfsDir(dir)).catch(() => undefined), stat(dir).catch(() => undefined)]);
  return !!a && !!b && a.dev !== b.dev;
}

export async function mountRootfs(dir: string, mounts: SnapshotMount[]): Promise<string> {
  const target = rootfsDir(dir);
  await mkdir(target, { recursive: true });
  if (!(await isRootfsMounted(dir))) await mountAll(mounts, target);
  return target;
}

export async function unmountRootfs(dir: string): Promise<void> {
  while (await isRootfsMounted(dir)) {
    await unmount(rootfsDir(dir)).catch(() => unmount(rootfsDir(dir), { lazy: true }));
  }
}

export async function startProcess(req: StartProcessRequest): Promise<StartedProcess> {
  const { spec, dir } = req;
  const rootfs = await mountRootfs(dir, req.rootfsMounts);
  spec.root = { ...spec.root, path: rootfs };
  const cgroupsPath = spec.linux?.cgroupsPath;
  if (!cgroupsPath) throw new BerthError('BERTH_CONTAINER_NO_CGROUP', 'internal: the container spec has no cgroupsPath');
  const cgroup = createCgroupManager(cgroupsPath);
  let pending: PendingMonitor | undefined;
  try {
    await cgroup.create(spec.linux?.resources);
    const tty = !!spec.process?.terminal;
    const plan = computePlan({
      spec,
      rootfs,
      bundle: dir,
      process: spec.process!,
      detach: true,
      cgroupProcs: cgroup.procsFiles(),
      ...(tty ? { consoleSocket: join(req.socketDir, 'console.sock') } : {}),
    });
    await mkdir(req.socketDir, { recursive: true, mode: 0o700 });
    pending = await spawnMonitor({
      dir,
      socketDir: req.socketDir,
      log: req.log,
      stdin: req.openStdin,
      stdinOnce: req.stdinOnce,
      tty,
      launcherChannel: true,
      command: [launcherPath(), '3'],
    });
    await req.beforeStart?.(req.socketDir);
    const channel = pending.launcherChannel!;
    const started = await pending.start(followLauncher(channel, plan.bytes));
    return { pid: started.containerPid, monitorPid: started.monitorPid, cgroup };
  } catch (err) {
    pending?.cancel();
    await cgroup.destroy({ kill: true }).catch(() => {});
    await unmountRootfs(dir).catch(() => {});
    throw err;
  }
}
