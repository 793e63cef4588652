/**
 * Per-container state under the runtime root (default /run/berth-runtime):
 *   <root>/<id>/state.json   what create recorded (plus the spec it ran)
 *   <root>/<id>/exec.fifo    exists from create until start
 * The live status is derived from the process itself, as runc does:
 * alive + fifo → created, alive → running, gone or zombie → stopped.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStatus, RuncState, Spec } from '../oci/runtime-spec.ts';
import { OCI_RUNTIME_SPEC_VERSION } from '../oci/runtime-spec.ts';
import { BerthError } from '../common/errors.ts';

export const DEFAULT_RUNTIME_ROOT = '/run/berth-runtime';

export interface StoredState {
  ociVersion: string;
  id: string;
  /** 0 while creating. */
  pid: number;
  /** /proc/<pid>/stat start time, to tell our process from a reused pid. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  /** What the runtime last recorded; the live status comes from containerStatus(). */
  status: ContainerStatus;
  annotations?: Record<string, string>;
  /** cgroup.procs files the container was put in (exec joins the same). */
  cgroupProcs: string[];
  cgroupsPath?: string;
  config: Spec;
}

const ID_RE = /^[\w+\-.]+$/;

export function validateId(id: string): void {
  if (!id || !ID_RE.test(id) || id === '.' || id === '..' || id.length > 1024)
    throw new BerthError('BERTH_RUNTIME_BAD_ID', `invalid container id ${JSON.stringify(id)}: use letters, digits, _ + - .`, { status: 400 });
}

export function containerDir(root: string, id: string): string {
  validateId(id);
  return join(root, id);
}

export function execFifoPath(root: string, id: string): string {
  return join(containerDir(root, id), 'exec.fifo');
}

/** Claims <root>/<id> for a new container; fails if the id is taken. */
export function claimContainerDir(root: string, id: string): string {
  const dir = containerDir(root, id);
  mkdirSync(root, { recursive: true, mode: 0o711 });
  try {
    mkdirSync(dir, { mode: 0o711 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new BerthError('BERTH_RUNTIME_EXISTS', `container ${id} already exists (in ${root})`, { status: 409 });
    throw err;
  }
  return dir;
}

/**
 * Atomic (temp + rename) but not fsynced: the runtime root lives on /run, a
 * tmpfs that does not survive a reboot anyway (runc does the same), and this
 * is on the container-start hot path.
 */
export async function saveState(root: string, state: StoredState): Promise<void> {
  const file = join(containerDir(root, state.id), 'state.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, file);
}

export function loadState(root: string, id: string): StoredState {
  const file = join(containerDir(root, id), 'state.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StoredState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || !existsSync(join(root, id)))
      throw new BerthError('BERTH_RUNTIME_NOT_FOUND', `container ${id} does not exist`, { status: 404 });
    throw new BerthError('BERTH_RUNTIME_STATE', `container ${id}: unreadable state: ${(err as Error).message}`);
  }
}

export function listIds(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'state.json')))
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** Start time (field 22) and state (field 3) of a process, or undefined if it is gone. */
export function procStat(pid: number): { startTime: string; state: string } | undefined {
  if (!pid) return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: after[0]!, startTime: after[19]! };
  } catch {
    return undefined;
  }
}

/** Is the container's init still our process and not a zombie? */
export function initAlive(state: StoredState): boolean {
  const st = procStat(state.pid);
  return !!st && st.startTime === state.pidStartTime && st.state !== 'Z' && st.state !== 'X';
}

export function containerStatus(root: string, state: StoredState): ContainerStatus {
  if (state.status === 'creating') return state.pid && !initAlive(state) ? 'stopped' : 'creating';
  if (!initAlive(state)) return 'stopped';
  return existsSync(execFifoPath(root, state.id)) ? 'created' : 'running';
}

export function runcState(root: string, state: StoredState): RuncState {
  const status = containerStatus(root, state);
  const out: RuncState = {
    ociVersion: state.ociVersion || OCI_RUNTIME_SPEC_VERSION,
    id: state.id,
    pid: status === 'stopped' ? 0 : state.pid,
    status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
  };
  if (state.annotations && Object.keys(state.annotations).length) out.annotations = state.annotations;
  return out;
}
