import type { LinuxResources } from '../../oci/runtime-spec.ts';

export interface MemoryStats {
  /** Bytes in use now (v1 memory.usage_in_bytes, v2 memory.current). */
  usage: number;
  /** null = unlimited. */
  limit: number | null;
  /** High-water mark (v1 max_usage_in_bytes, v2 memory.peak where the kernel has it). */
  maxUsage?: number;
  /** Times the limit was hit (v1 failcnt, v2 memory.events "max"). */
  failcnt?: number;
  /** Processes the OOM killer killed in this group. */
  oomKills: number;
  /** Page cache (v1 "cache" / v2 "file" in memory.stat). */
  cache?: number;
  /** Anonymous memory (v1 "rss" / v2 "anon"). */
  rss?: number;
  /** Raw memory.stat for docker stats' memory_stats.stats. */
  stat: Record<string, number>;
}

export interface CpuStats {
  /** Total CPU time, nanoseconds. */
  usageNs: number;
  userNs?: number;
  systemNs?: number;
  /** Per-CPU totals (v1 cpuacct.usage_percpu). */
  perCpuNs?: number[];
  periods?: number;
  throttledPeriods?: number;
  throttledNs?: number;
}

export interface PidsStats {
  current: number;
  /** null = unlimited. */
  limit: number | null;
}

export interface IoDeviceStats {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

export interface IoStats {
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
  /** Per block device, for docker stats' blkio_stats. */
  devices: IoDeviceStats[];
}

export interface CgroupStats {
  memory?: MemoryStats;
  cpu?: CpuStats;
  pids?: PidsStats;
  /**
   * Block I/O. On cgroup v1 kernels of the 6.x series the throttle counters
   * only move for devices that have a throttle rule in the group.
   */
  io?: IoStats;
}

export interface DestroyOptions {
  /** SIGKILL processes still in the group first (delete --force). */
  kill?: boolean;
  /** How long to wait for processes to go and rmdir to succeed (default 5 s). */
  timeoutMs?: number;
}

export interface CgroupManager {
  readonly version: 'v1' | 'v2';
  /** The normalised cgroup path, e.g. /berth/abc. */
  readonly path: string;
  /** Directory per hierarchy: controller name (or "unified") → directory. */
  paths(): Record<string, string>;
  /** mkdir in every hierarchy and apply the limits. */
  create(resources?: LinuxResources): Promise<void>;
  /** The cgroup.procs files a launcher writes the child's pid into before exec. */
  procsFiles(): string[];
  addProcess(pid: number): Promise<void>;
  /** Apply changed limits to a live group (runc update). */
  update(resources: LinuxResources): Promise<void>;
  stats(): Promise<CgroupStats>;
  /** Stop every process in the group; resolves once the kernel reports it frozen. */
  freeze(timeoutMs?: number): Promise<void>;
  thaw(): Promise<void>;
  isFrozen(): Promise<boolean>;
  /** OOM kills in the group so far. */
  oomKillCount(): Promise<number>;
  /** PIDs of the processes in the group (and its children). */
  processes(): Promise<number[]>;
  exists(): boolean;
  /** Remove the group in every hierarchy, deepest first; with kill, SIGKILL what is left first. */
  destroy(opts?: DestroyOptions): Promise<void>;
}
