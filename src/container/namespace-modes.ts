/**
 * Docker's --pid, --ipc and --uts: a container gets namespaces of its own
 * (the default), the host's (`host`), or — for pid and ipc — another running
 * container's (`container:<name|id>`). Create checks the values with
 * dockerd's messages; start resolves a container:<x> to the namespace path of
 * that container's process for the OCI spec.
 */
import { existsSync } from 'node:fs';
import { conflict, invalidArgument } from '../common/errors.ts';
import type { ContainerCreateRequest, HostConfig } from '../api/container-types.ts';
import type { ContainerRecord } from './store.ts';

type Find = (ref: string) => ContainerRecord | undefined;

const PID_MODES = ['', 'host'];
const IPC_MODES = ['', 'private', 'shareable', 'host', 'none'];

export function checkNamespaceModes(req: ContainerCreateRequest, hc: HostConfig, find: Find): void {
  for (const [field, value, modes, flag] of [
    ['PidMode', hc.PidMode ?? '', PID_MODES, 'pid'],
    ['IpcMode', hc.IpcMode ?? '', IPC_MODES, 'ipc'],
  ] as const) {
    if (value.startsWith('container:')) {
      const ref = value.slice('container:'.length);
      if (!ref) throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', `invalid ${flag} mode: ${value}`);
      if (!find(ref)) throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', `${field} container:${ref}: No such container: ${ref}`);
    } else if (!(modes as readonly string[]).includes(value)) {
      throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', `invalid ${field}: ${value}`);
    }
  }
  const uts = hc.UTSMode ?? '';
  if (uts !== '' && uts !== 'host') throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', `invalid UTSMode: ${uts}`);
  if (uts === 'host' && req.Hostname) throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', 'Conflicting options: hostname and the UTS mode');
}

export interface JoinedNamespaces {
  pid?: string;
  ipc?: string;
}

const LABEL = { net: 'network', pid: 'PID', ipc: 'IPC' } as const;

/**
 * container:<ref> modes at start: the namespace of that container's process
 * (/proc/<pid>/ns/<kind>); the container must exist, be another one, and run.
 * One rule for --network, --pid and --ipc, with dockerd's wording.
 */
export function runningContainerNamespace(kind: keyof typeof LABEL, ref: string, selfId: string, find: Find): { path: string; other: ContainerRecord } {
  const what = LABEL[kind];
  const other = find(ref);
  if (!other) throw conflict('BERTH_CONTAINER_NAMESPACE_MODE', `cannot join ${what} of container ${ref}: No such container: ${ref}`);
  if (other.Id === selfId) throw invalidArgument('BERTH_CONTAINER_NAMESPACE_MODE', `cannot join own ${what}`);
  const path = `/proc/${other.State.Pid}/ns/${kind}`;
  if (!other.State.Running || other.State.Restarting || !other.State.Pid || !existsSync(path)) {
    throw conflict('BERTH_CONTAINER_NAMESPACE_MODE', `cannot join ${what} of a non running container: ${ref}`);
  }
  return { path, other };
}

/** Start: the namespaces named by --pid/--ipc container:<x>. */
export function namespacesToJoin(rec: ContainerRecord, find: Find): JoinedNamespaces {
  const out: JoinedNamespaces = {};
  for (const [kind, value] of [['pid', rec.HostConfig.PidMode ?? ''], ['ipc', rec.HostConfig.IpcMode ?? '']] as const) {
    if (value.startsWith('container:')) out[kind] = runningContainerNamespace(kind, value.slice('container:'.length), rec.Id, find).path;
  }
  return out;
}
