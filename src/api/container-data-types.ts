/**
 * Docker Engine API wire types for the container data plane: `docker cp`
 * (path stat), `docker diff` (changes), `docker top` and `docker stats`.
 * Field names and JSON shapes are Docker's (moby api/types), since the docker
 * CLI, dockerode and compose read them verbatim.
 */

/**
 * GET/HEAD /containers/{id}/archive: base64 of this JSON in the
 * X-Docker-Container-Path-Stat header. `mode` is a Go os.FileMode (permission
 * bits plus type bits: directory 1<<31, symlink 1<<27, …), `mtime` RFC 3339
 * with nanoseconds, `linkTarget` the fully resolved container path of a
 * symlink ("" otherwise).
 */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** GET /containers/{id}/changes: Kind 0 modified, 1 added, 2 deleted. */
export interface ContainerChangeResponseItem {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** GET /containers/{id}/top. */
export interface ContainerTopResponse {
  Titles: string[];
  Processes: string[][];
}

// ---------------------------------------------------------------------------
// GET /containers/{id}/stats (moby api/types/container/stats.go)
// ---------------------------------------------------------------------------

export interface ThrottlingData {
  periods: number;
  throttled_periods: number;
  throttled_time: number;
}

export interface CpuUsage {
  total_usage: number;
  /** Linux cgroup v1 only (omitted on v2, as Docker does). */
  percpu_usage?: number[];
  usage_in_kernelmode: number;
  usage_in_usermode: number;
}

export interface CpuStatsJson {
  cpu_usage: CpuUsage;
  /** Host CPU time in ns (from /proc/stat); omitted when zero. */
  system_cpu_usage?: number;
  /** Omitted when zero. */
  online_cpus?: number;
  throttling_data: ThrottlingData;
}

export interface MemoryStatsJson {
  usage?: number;
  /** cgroup v1 only. */
  max_usage?: number;
  stats?: Record<string, number>;
  /** cgroup v1 only. */
  failcnt?: number;
  limit?: number;
}

export interface BlkioStatEntry {
  major: number;
  minor: number;
  /** "Read"/"Write"/"Total" (cgroup v1) or "read"/"write" (cgroup v2), as Docker reports them. */
  op: string;
  value: number;
}

export interface BlkioStatsJson {
  io_service_bytes_recursive: BlkioStatEntry[] | null;
  io_serviced_recursive: BlkioStatEntry[] | null;
  io_queue_recursive: BlkioStatEntry[] | null;
  io_service_time_recursive: BlkioStatEntry[] | null;
  io_wait_time_recursive: BlkioStatEntry[] | null;
  io_merged_recursive: BlkioStatEntry[] | null;
  io_time_recursive: BlkioStatEntry[] | null;
  sectors_recursive: BlkioStatEntry[] | null;
}

export interface PidsStatsJson {
  /** Omitted when zero (Go omitempty). */
  current?: number;
  /** Omitted when unlimited. */
  limit?: number;
}

export interface NetworkStatsJson {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

export interface ContainerStatsResponse {
  name: string;
  id: string;
  read: string;
  preread: string;
  pids_stats: PidsStatsJson;
  blkio_stats: BlkioStatsJson;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStatsJson;
  precpu_stats: CpuStatsJson;
  memory_stats: MemoryStatsJson;
  /** Absent for containers without network interfaces besides loopback (--network none). */
  networks?: Record<string, NetworkStatsJson>;
}
