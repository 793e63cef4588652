/**
 * The runtime's view of cgroups: where to put the container's processes and
 * how to remove its cgroups. Backed by src/runtime/cgroups (createCgroupManager):
 * cgroupsPath honoured, the container id under /berth when it is empty.
 */
import type { LinuxDeviceCgroup, LinuxResources, Spec } from '../oci/runtime-spec.ts';
import { createCgroupManager } from './cgroups/index.ts';
import type { CgroupManager } from './cgroups/index.ts';

export interface ContainerCgroups {
  manager: CgroupManager;
  /** cgroup.procs files the launcher writes the container pid into. */
  procsFiles: string[];
  destroy(): Promise<void>;
}

function wrap(manager: CgroupManager): ContainerCgroups {
  return {
    manager,
    procsFiles: manager.procsFiles(),
    destroy: () => manager.destroy({ kill: true }),
  };
}

/**
 * The device rules every container gets after the config's own (as runc's
 * specconv does): mknod of anything, the default nodes, ptys, tun, and the
 * config's linux.devices.
 */
const DEFAULT_DEVICE_RULES: LinuxDeviceCgroup[] = [
  { allow: true, type: 'c', major: null, minor: null, access: 'm' },
  { allow: true, type: 'b', major: null, minor: null, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, minor: null, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

export function containerResources(spec: Spec): LinuxResources {
  const resources: LinuxResources = { ...(spec.linux?.resources ?? {}) };
  const own: LinuxDeviceCgroup[] = (spec.linux?.devices ?? []).map((d) => ({
    allow: true, type: d.type === 'u' ? 'c' : d.type, major: d.major ?? null, minor: d.minor ?? null, access: 'rwm',
  }));
  resources.devices = [...(resources.devices ?? []), ...DEFAULT_DEVICE_RULES, ...own];
  return resources;
}

/** Creates the container's cgroups with spec.linux.resources. */
export async function setupCgroups(spec: Spec, id: string): Promise<ContainerCgroups> {
  const manager = createCgroupManager(spec.linux?.cgroupsPath ?? '', undefined, { fallbackName: id });
  await manager.create(containerResources(spec));
  return wrap(manager);
}

/** The cgroups of an existing container, for exec, ps --all and delete. */
export function openCgroups(cgroupsPath: string | undefined, id: string): ContainerCgroups {
  return wrap(createCgroupManager(cgroupsPath ?? '', undefined, { fallbackName: id }));
}
