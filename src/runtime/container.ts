/**
 * The runtime as a library: create / start / state / kill / delete / run /
 * exec of OCI bundles. berth-runtime (cli/main.ts) is a thin layer over this,
 * and berthd uses it directly (no Node process per container: the launcher
 * exits once the container is created, or stays as its own small monitor
 * when an exitFile is asked for).
 */
import { closeSync, constants as fsConst, openSync, readFileSync, readSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

import type { LinuxResources, Process, RuncState, Spec, State } from '../oci/runtime-spec.ts';
import { OCI_RUNTIME_SPEC_VERSION } from '../oci/runtime-spec.ts';
import { BerthError } from '../common/errors.ts';
import { openCgroups, setupCgroups } from './cgroup-adapter.ts';
import type { ContainerCgroups } from './cgroup-adapter.ts';
import { hasHooks, runHooks } from './hooks.ts';
import { launch } from './launcher.ts';
import type { Launch, StdioSpec } from './launcher.ts';
import { computePlan } from './plan.ts';
import { loadSpec, rootfsPath, validateProcess } from './spec-load.ts';
import {
  DEFAULT_RUNTIME_ROOT, claimContainerDir, containerDir, containerStatus, execFifoPath, initAlive, listIds,
  loadState, procStat, runcState, saveState, validateId,
} from './state.ts';
import type { StoredState } from './state.ts';

export interface CreateOptions {
  id: string;
  bundle: string;
  /** Runtime state root (default /run/berth-runtime). */
  root?: string;
  consoleSocket?: string;
  pidFile?: string;
  /** Pass this process's fds 3 … 3+n-1 to the container. */
  preserveFds?: number;
  noPivot?: boolean;
  /** Container stdio (default: this process's). */
  stdio?: [StdioSpec, StdioSpec, StdioSpec];
  /** Keep a small native monitor that reaps the container and writes its exit status here. */
  exitFile?: string;
  /** Internal (run): the launcher stays the container's parent and exits with its status. */
  attached?: boolean;
}

export interface Created {
  id: string;
  pid: number;
  /** Present when attached: resolves with the container's exit status. */
  exited?: Promise<number>;
  launch: Launch;
}

const rootOf = (root?: string) => root ?? DEFAULT_RUNTIME_ROOT;

/** The pid file appears whole (temp + rename), as shims poll for it. */
function writePidFile(path: string, pid: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, String(pid));
  renameSync(tmp, path);
}

function hookState(s: StoredState, status: State['status'], pid = s.pid): State {
  const st: State = { ociVersion: s.ociVersion, id: s.id, status, bundle: s.bundle };
  if (pid) st.pid = pid;
  if (s.annotations) st.annotations = s.annotations;
  return st;
}

/** runc's checkTerminal: a console socket only makes sense for a detached process with a terminal. */
function checkConsoleSocket(consoleSocket: string | undefined, detached: boolean, terminal: boolean): void {
  if (consoleSocket && (!detached || !terminal)) {
    throw new BerthError('BERTH_RUNTIME_CONSOLE', `cannot use console socket if runc will not detach or allocate tty (--console-socket with ${terminal ? 'an attached process' : 'process.terminal false'})`, { status: 400 });
  }
}

export async function createContainer(opts: CreateOptions): Promise<Created> {
  const root = rootOf(opts.root);
  const bundle = opts.bundle;
  validateId(opts.id);
  const spec = loadSpec(bundle);
  if (!spec.process) throw new BerthError('BERTH_RUNTIME_CONFIG_INVALID', 'config.json: process: required to create a container', { status: 400 });
  validateProcess(spec.process, 'process');
  // create always detaches; run only with -d.
  checkConsoleSocket(opts.consoleSocket, !opts.attached, !!spec.process.terminal);
  const rootfs = rootfsPath(spec, bundle);
  const dir = claimContainerDir(root, opts.id);
  let cgroups: ContainerCgroups | undefined;
  try {
    cgroups = await setupCgroups(spec, opts.id);
    const fifo = execFifoPath(root, opts.id);
    const hookPause = hasHooks(spec, 'prestart', 'createRuntime', 'createContainer', 'startContainer');
    const plan = computePlan({
      spec, rootfs, bundle, process: spec.process,
      detach: !opts.attached && !opts.exitFile,
      monitorExitFile: opts.exitFile,
      execFifo: fifo,
      consoleSocket: opts.consoleSocket,
      preserveFds: opts.preserveFds,
      noPivot: opts.noPivot,
      cgroupProcs: cgroups.procsFiles,
      hookPause,
    });
    const state: StoredState = {
      ociVersion: spec.ociVersion || OCI_RUNTIME_SPEC_VERSION,
      id: opts.id, pid: 0, pidStartTime: '', bundle, rootfs,
      created: new Date().toISOString(), owner: '', status: 'creating',
      annotations: spec.annotations, cgroupProcs: cgroups.procsFiles,
      cgroupsPath: spec.linux?.cgroupsPath, config: spec,
    };
    if (hookPause) await saveState(root, state);
    const preserve = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
    const l = launch({
      plan: plan.bytes,
      stdio: opts.stdio,
      preserveFds: preserve,
      onHook: async (pid) => {
        const st = hookState(state, 'creating', pid);
        await runHooks(spec, 'prestart', st);
        await runHooks(spec, 'createRuntime', st);
        // createContainer and startContainer run in the container (the launcher runs them).
        return JSON.stringify(st);
      },
    });
    const pid = await l.ready;
    // A monitor launcher outlives this call; it must not keep the caller alive.
    if (opts.exitFile) l.child.unref();
    state.pid = pid;
    state.pidStartTime = procStat(pid)?.startTime ?? '';
    state.status = 'created';
    await saveState(root, state);
    if (opts.pidFile) writePidFile(opts.pidFile, pid);
    return { id: opts.id, pid, launch: l, exited: opts.attached ? l.exited : undefined };
  } catch (err) {
    await cgroups?.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** Releases a created container: it execs its process now. */
export async function startContainer(root: string | undefined, id: string): Promise<void> {
  const r = rootOf(root);
  const state = loadState(r, id);
  const status = containerStatus(r, state);
  if (status !== 'created') throw new BerthError('BERTH_RUNTIME_STATE_CONFLICT', `cannot start container ${id}: it is ${status}, not created`, { status: 409 });
  const fifo = execFifoPath(r, id);
  const fd = openSync(fifo, fsConst.O_RDONLY | fsConst.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const readByte = (): boolean => {
      try {
        return readSync(fd, buf, 0, 1, null) === 1;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        return false;
      }
    };
    for (;;) {
      if (readByte()) break;
      if (!initAlive(state)) {
        // A short program may have been released, run and exited between our two looks.
        if (readByte()) break;
        throw new BerthError('BERTH_RUNTIME_START_FAILED', `container ${id} exited before it could start`);
      }
      sleepMs(1);
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  state.status = 'running';
  await saveState(r, state);
  try {
    await runHooks(state.config, 'poststart', hookState(state, 'running'));
  } catch (err) {
    process.stderr.write(`berth-runtime: warning: ${(err as Error).message}\n`);
  }
}

export function containerState(root: string | undefined, id: string): RuncState {
  const r = rootOf(root);
  return runcState(r, loadState(r, id));
}

/** As runc list: the owner is the user owning the container's state directory. */
export function listContainers(root: string | undefined): RuncState[] {
  const r = rootOf(root);
  const out: RuncState[] = [];
  for (const id of listIds(r)) {
    try {
      const st = runcState(r, loadState(r, id));
      st.owner = userName(statSync(containerDir(r, id)).uid);
      out.push(st);
    } catch {
      /* deleted meanwhile */
    }
  }
  return out;
}

/** The user name of uid from /etc/passwd, or "#uid" (runc's fallback). */
function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === uid && f[2] !== '') return f[0]!;
    }
  } catch {
    /* no passwd */
  }
  return `#${uid}`;
}

/** Pids of every process in the container's pid namespace (or its init alone without one). */
export function containerPids(root: string | undefined, id: string): number[] {
  const r = rootOf(root);
  const state = loadState(r, id);
  if (!initAlive(state)) return [];
  const hasPidNs = (state.config.linux?.namespaces ?? []).some((n) => n.type === 'pid');
  if (!hasPidNs) return [state.pid];
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${state.pid}/ns/pid`);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids.sort((a, b) => a - b);
}

export function killContainer(root: string | undefined, id: string, signal: number, all = false): void {
  const r = rootOf(root);
  const state = loadState(r, id);
  const status = containerStatus(r, state);
  if (status === 'stopped' || status === 'creating')
    throw new BerthError('BERTH_RUNTIME_NOT_RUNNING', `cannot kill container ${id}: it is ${status}`, { status: 409 });
  const pids = all ? containerPids(r, id) : [state.pid];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

/** Removes a container: created/stopped ones always, running ones with force (SIGKILL first). */
export async function deleteContainer(root: string | undefined, id: string, force = false): Promise<void> {
  const r = rootOf(root);
  const dir = containerDir(r, id);
  let state: StoredState;
  try {
    state = loadState(r, id);
  } catch (err) {
    if (force && (err as BerthError).code === 'BERTH_RUNTIME_NOT_FOUND') return;
    throw err;
  }
  const status = containerStatus(r, state);
  if (status === 'running' && !force)
    throw new BerthError('BERTH_RUNTIME_STATE_CONFLICT', `cannot delete running container ${id}: stop it first or use --force`, { status: 409 });
  if (status !== 'stopped') {
    for (const pid of containerPids(r, id).concat(state.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // Wait until the init is gone or a zombie (its parent reaps it, not us).
    for (let i = 0; i < 5000 && initAlive(state); i++) sleepMs(1);
  }
  const cgroups = openCgroups(state.cgroupsPath, id);
  await cgroups.destroy().catch((err: Error) => process.stderr.write(`berth-runtime: warning: ${err.message}\n`));
  if (state.status !== 'creating' && state.pid) {
    await runHooks(state.config, 'poststop', hookState(state, 'stopped', 0)).catch((err: Error) =>
      process.stderr.write(`berth-runtime: warning: ${err.message}\n`),
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface RunOptions extends Omit<CreateOptions, 'attached' | 'exitFile'> {
  detach?: boolean;
  /** Keep the container's state after it exits (runc run --keep). */
  keep?: boolean;
  /** Called once started, with the container pid and the launcher's pid (signals go to the launcher). */
  onStarted?: (pid: number, launcherPid: number) => void;
}

/** create + start; attached, resolves with the exit status (128+signal when killed). */
export async function runContainer(opts: RunOptions): Promise<number> {
  const created = await createContainer({ ...opts, attached: !opts.detach });
  try {
    await startContainer(opts.root, opts.id);
  } catch (err) {
    await deleteContainer(opts.root, opts.id, true).catch(() => {});
    throw err;
  }
  opts.onStarted?.(created.pid, created.launch.child.pid ?? 0);
  if (opts.detach) return 0;
  const code = await created.exited!;
  if (!opts.keep) await deleteContainer(opts.root, opts.id, true);
  return code;
}

export interface ExecOptions {
  root?: string;
  id: string;
  process: Process;
  consoleSocket?: string;
  pidFile?: string;
  detach?: boolean;
  preserveFds?: number;
  stdio?: [StdioSpec, StdioSpec, StdioSpec];
  /** Called once started, with the process pid and the launcher's pid (signals go to the launcher). */
  onStarted?: (pid: number, launcherPid: number) => void;
}

/** Runs another process in a running container: its namespaces, cgroups, and (unless overridden) seccomp. */
export async function execInContainer(opts: ExecOptions): Promise<number> {
  const r = rootOf(opts.root);
  const state = loadState(r, opts.id);
  const status = containerStatus(r, state);
  if (status !== 'running' && status !== 'created')
    throw new BerthError('BERTH_RUNTIME_NOT_RUNNING', `cannot exec in container ${opts.id}: it is ${status}`, { status: 409 });
  validateProcess(opts.process, 'process');
  checkConsoleSocket(opts.consoleSocket, !!opts.detach, !!opts.process.terminal);
  const spec: Spec = state.config;
  const plan = computePlan({
    spec, rootfs: `/proc/${state.pid}/root`, bundle: state.bundle, process: opts.process,
    joinPid: state.pid, detach: opts.detach, consoleSocket: opts.consoleSocket,
    preserveFds: opts.preserveFds, cgroupProcs: state.cgroupProcs,
  });
  const l = launch({
    plan: plan.bytes,
    stdio: opts.stdio,
    preserveFds: Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i),
  });
  const pid = await l.ready;
  if (opts.pidFile) writePidFile(opts.pidFile, pid);
  opts.onStarted?.(pid, l.child.pid ?? 0);
  if (opts.detach) return 0;
  return l.exited;
}


/** Freezes every process of the container (runc pause). */
export async function pauseContainer(root: string | undefined, id: string): Promise<void> {
  const r = rootOf(root);
  const state = loadState(r, id);
  const status = containerStatus(r, state);
  if (status !== 'running' && status !== 'created')
    throw new BerthError('BERTH_RUNTIME_NOT_RUNNING', `cannot pause container ${id}: it is ${status}`, { status: 409 });
  await openCgroups(state.cgroupsPath, id).manager.freeze();
}

export async function resumeContainer(root: string | undefined, id: string): Promise<void> {
  const r = rootOf(root);
  const state = loadState(r, id);
  const cg = openCgroups(state.cgroupsPath, id).manager;
  if (!(await cg.isFrozen())) throw new BerthError('BERTH_RUNTIME_NOT_PAUSED', `cannot resume container ${id}: it is not paused`, { status: 409 });
  await cg.thaw();
}

/** Changes the resource limits of a live container (runc update). */
export async function updateContainer(root: string | undefined, id: string, resources: LinuxResources): Promise<void> {
  const r = rootOf(root);
  const state = loadState(r, id);
  if (containerStatus(r, state) === 'stopped') throw new BerthError('BERTH_RUNTIME_NOT_RUNNING', `cannot update container ${id}: it is stopped`, { status: 409 });
  await openCgroups(state.cgroupsPath, id).manager.update(resources);
}

/** runc's state, with "paused" when the container's cgroup is frozen. */
export async function containerStateWithPause(root: string | undefined, id: string): Promise<RuncState> {
  const st = containerState(root, id);
  if (st.status === 'running' || st.status === 'created') {
    const state = loadState(rootOf(root), id);
    try {
      if (await openCgroups(state.cgroupsPath, id).manager.isFrozen()) st.status = 'paused';
    } catch {
      /* no freezer: not paused */
    }
  }
  return st;
}
