/**
 * Cgroups for containers: one interface (CgroupManager), a v1 driver and a v2
 * driver, chosen from what the host actually mounts.
 *
 *   const cg = createCgroupManager(spec.linux?.cgroupsPath ?? '', undefined, { fallbackName: id });
 *   await cg.create(spec.linux?.resources);
 *   // launcher writes the child pid into each of cg.procsFiles() before exec
 *   …
 *   await cg.destroy({ kill: true });
 */
import { BerthError } from '../../common/errors.ts';
import { detectCgroupLayout, type CgroupLayout } from './layout.ts';
import { resolveCgroupsPath } from './path.ts';
import type { CgroupManager } from './types.ts';
import { CgroupV1Manager } from './v1.ts';
import { CgroupV2Manager, type CgroupV2Options } from './v2.ts';
import { attachDeviceProgramNative } from './device-loader.ts';

export interface CreateCgroupManagerOptions extends CgroupV2Options {
  /** Name used when cgroupsPath is empty (the container id), placed under /berth. */
  fallbackName?: string;
  /** Override systemd detection for systemd-style paths (tests). */
  systemdRunning?: boolean;
}

let cachedLayout: CgroupLayout | undefined;

/** The host's layout, detected once per process (mounts do not change under a running engine). */
export function hostCgroupLayout(): CgroupLayout {
  cachedLayout ??= detectCgroupLayout();
  return cachedLayout;
}

export function createCgroupManager(cgroupsPath: string, layout: CgroupLayout = hostCgroupLayout(), opts: CreateCgroupManagerOptions = {}): CgroupManager {
  const path = resolveCgroupsPath(cgroupsPath, opts.fallbackName, { systemdRunning: opts.systemdRunning });
  if (layout.mode === 'v2') {
    const mount = layout.mounts.find((m) => m.type === 'v2');
    if (!mount) throw new BerthError('BERTH_CGROUPS_NOT_MOUNTED', 'cgroup v2 layout without a cgroup2 mount');
    // Device rules on v2 need an eBPF program loaded with bpf(2): the native loader, unless the caller brings one.
    return new CgroupV2Manager(path, mount, { attachDeviceProgram: attachDeviceProgramNative, ...opts });
  }
  return new CgroupV1Manager(path, layout);
}

export { attachDeviceProgramNative, deviceAttachBinary } from './device-loader.ts';
export { detectCgroupLayout, parseCgroupMounts, layoutFromMounts } from './layout.ts';
export type { CgroupLayout, CgroupMount, CgroupMode } from './layout.ts';
export { resolveCgroupsPath, systemdStylePath, DEFAULT_CGROUP_PARENT } from './path.ts';
export type { ResolveCgroupsPathOptions } from './path.ts';
export type { CgroupManager, CgroupStats, MemoryStats, CpuStats, PidsStats, IoStats, IoDeviceStats, DestroyOptions } from './types.ts';
export { parseBlkioStats, parseIoStat } from './files.ts';
export { CgroupV1Manager } from './v1.ts';
export { CgroupV2Manager, v2Writes } from './v2.ts';
export type { CgroupV2Options } from './v2.ts';
export { cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2 } from './convert.ts';
export { compileDeviceProgram, deviceAccessAllowed, BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, DEVICE_PROGRAM_LICENSE } from './devices-ebpf.ts';
