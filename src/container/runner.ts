/**
 * Starting a container's process: a berth-monitor (which stays with the
 * container) mounts its rootfs; then its cgroups are created, the launcher
 * plan computed and the launch handed to the monitor. Nothing here blocks on the container's life;
 * the service watches the monitor for the exit.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spec } from '../oci/runtime-spec.ts';
import type { Mount as SnapshotMount } from '../snapshot/types.ts';
import { mountAll, mountRequests, unmount } from '../snapshot/mount.ts';
import { computePlan } from '../runtime/plan.ts';
import { launcherPath, followLauncher } from '../runtime/launcher.ts';
import { createCgroupManager, type CgroupManager } from '../runtime/cgroups/index.ts';
import { spawnMonitor, type MonitorPool } from './monitor.ts';
import { BerthError } from '../common/errors.ts';

export interface LogSettings {
  path: string;
  maxSize: number;
  maxFiles: number;
}

export interface PrepareProcessRequest {
  /** The container's directory (state, logs). */
  dir: string;
  /** A short directory for the monitor's sockets (unix socket paths are limited to 108 bytes). */
  socketDir: string;
  /** Mounts of the container's writable snapshot, assembled at <dir>/rootfs. */
  rootfsMounts: SnapshotMount[];
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  log: LogSettings;
  /** Idle monitors started ahead of time. */
  pool?: MonitorPool;
}

/** A container whose monitor is up and whose root filesystem is mounted, not yet started. */
export interface PreparedProcess {
  rootfs: string;
  /**
   * Create the cgroups, compute the launcher plan from `spec` and start the
   * process. `beforeStart` runs once the monitor listens and before the
   * process starts: connect attach clients there.
   */
  start(spec: Spec, beforeStart?: (socketDir: string) => Promise<void>): Promise<StartedProcess>;
  /** Give up: the monitor unmounts the root filesystem and exits. */
  cancel(): Promise<void>;
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

/**
 * Start the container's monitor, which mounts the root filesystem (no
 * mount(8) spawn on the start path; it unmounts it again once the container
 * has exited), so the spec can be computed from the image's files before
 * the process exists.
 */
export async function prepareProcess(req: PrepareProcessRequest): Promise<PreparedProcess> {
  const { dir } = req;
  const rootfs = rootfsDir(dir);
  await mkdir(rootfs, { recursive: true });
  // Already mounted (a `cp` into the stopped container left it so): keep it; the exit cleanup unmounts it.
  const mounts = (await isRootfsMounted(dir)) ? [] : mountRequests(req.rootfsMounts, rootfs);
  await mkdir(req.socketDir, { recursive: true, mode: 0o700 });
  const pending = await spawnMonitor({
    dir,
    socketDir: req.socketDir,
    log: req.log,
    stdin: req.openStdin,
    stdinOnce: req.stdinOnce,
    tty: req.tty,
    launcherChannel: true,
    mounts,
    command: [launcherPath(), '3'],
  }, req.pool);
  return {
    rootfs,
    cancel: () => pending.cancel(),
    async start(spec, beforeStart) {
      spec.root = { ...spec.root, path: rootfs };
      const cgroupsPath = spec.linux?.cgroupsPath;
      if (!cgroupsPath) throw new BerthError('BERTH_CONTAINER_NO_CGROUP', 'internal: the container spec has no cgroupsPath');
      const cgroup = createCgroupManager(cgroupsPath);
      try {
        await cgroup.create(spec.linux?.resources);
        const plan = computePlan({
          spec,
          rootfs,
          bundle: dir,
          process: spec.process!,
          detach: true,
          cgroupProcs: cgroup.procsFiles(),
          ...(req.tty ? { consoleSocket: join(req.socketDir, 'console.sock') } : {}),
        });
        await beforeStart?.(req.socketDir);
        const started = await pending.start(followLauncher(pending.launcherChannel!, plan.bytes));
        return { pid: started.containerPid, monitorPid: started.monitorPid, cgroup };
      } catch (err) {
        await cgroup.destroy({ kill: true }).catch(() => {});
        throw err;
      }
    },
  };
}
