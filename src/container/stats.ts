import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { CgroupStats, CpuStats } from '../runtime/cgroups/types.ts';
import type {
  BlkioStatEntry, BlkioStatsJson, ContainerStatsResponse, CpuStatsJson, MemoryStatsJson, NetworkStatsJson, PidsStatsJson,
} from '../api/container-data-types.ts';

/**
 * `docker stats` (GET /containers/{id}/stats): Docker's StatsJSON from a
 * cgroup sample, exactly as the docker CLI and dockerode read it. The CLI's
 * CPU % is (Δ cpu_usage.total_usage / Δ system_cpu_usage) × online_cpus × 100,
 * so system_cpu_usage must be the host's CPU time the way Docker reads it
 * (/proc/stat, see systemCpuUsageNs) and precpu_stats the previous sample.
 * Field names and omissions follow moby's api/types/container/stats.go
 * (Go omitempty: zero system_cpu_usage/online_cpus, an empty percpu_usage and
 * zero pids fields are left out).
 */

/** Go's zero time: what Docker sends as `preread` for the first sample. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture Docker runs on. */
const CLOCK_TICKS_PER_SECOND = 100n;

export interface HostCpuSample {
  /** Host CPU time in nanoseconds: user+nice+system+idle+iowait+irq+softirq (Docker leaves out steal and guest). */
  systemNs: number;
  /** CPUs listed in /proc/stat (cpu0, cpu1, …), Docker's online_cpus. */
  onlineCpus: number;
}

/** Parse /proc/stat text as Docker's getSystemCPUUsage does. */
export function parseProcStat(text: string): HostCpuSample {
  let systemNs: number | undefined;
  let onlineCpus = 0;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    const key = parts[0] ?? '';
    if (key === 'cpu') {
      if (parts.length < 8) throw new Error(`/proc/stat: invalid number of cpu fields in ${JSON.stringify(line)}`);
      let ticks = 0n;
      for (const f of parts.slice(1, 8)) ticks += BigInt(f);
      systemNs = Number((ticks * 1_000_000_000n) / CLOCK_TICKS_PER_SECOND);
    } else if (/^cpu\d+$/.test(key)) {
      onlineCpus++;
    }
  }
  if (systemNs === undefined) throw new Error('/proc/stat has no "cpu" line');
  return { systemNs, onlineCpus };
}

/** The host's CPU time and CPU count now. */
export function hostCpuSample(procStat = '/proc/stat'): HostCpuSample {
  return parseProcStat(readFileSync(procStat, 'utf8'));
}

/** Host CPU time in nanoseconds, as Docker computes system_cpu_usage. */
export function systemCpuUsageNs(): number {
  return hostCpuSample().systemNs;
}

/** A previous sample: what becomes precpu_stats and preread. */
export interface PreviousStats {
  cgroup: CgroupStats;
  /** system_cpu_usage when it was taken. */
  system: number;
  /** RFC 3339 time it was taken. */
  read: string;
}

export interface StatsMeta {
  /** Full container ID. */
  id: string;
  /** Container name; a leading "/" is added as Docker shows it. */
  name: string;
  onlineCpus: number;
  /** system_cpu_usage for this sample (default: read /proc/stat now). */
  system?: number;
  /** Time of this sample (default: now). */
  read?: string;
  /** 'v1' or 'v2' (CgroupManager.version): decides blkio op names and which memory fields exist. Default: v1 when per-CPU usage is present. */
  cgroupVersion?: 'v1' | 'v2';
  /** Memory limit reported for an unlimited container (Docker: the host's memory). Default os.totalmem(). */
  machineMemory?: number;
  /** Per-interface counters; leave out for containers with loopback only (--network none), as Docker does. */
  networks?: Record<string, NetworkStatsJson>;
}

function cpuJson(cpu: CpuStats | undefined, system: number, onlineCpus: number): CpuStatsJson {
  const usage: CpuStatsJson['cpu_usage'] = {
    total_usage: cpu?.usageNs ?? 0,
    ...(cpu?.perCpuNs && cpu.perCpuNs.length > 0 ? { percpu_usage: cpu.perCpuNs } : {}),
    usage_in_kernelmode: cpu?.systemNs ?? 0,
    usage_in_usermode: cpu?.userNs ?? 0,
  };
  return {
    cpu_usage: usage,
    ...(system > 0 ? { system_cpu_usage: system } : {}),
    ...(onlineCpus > 0 ? { online_cpus: onlineCpus } : {}),
    throttling_data: {
      periods: cpu?.periods ?? 0,
      throttled_periods: cpu?.throttledPeriods ?? 0,
      throttled_time: cpu?.throttledNs ?? 0,
    },
  };
}

function memoryJson(stats: CgroupStats, version: 'v1' | 'v2', machineMemory: number): MemoryStatsJson {
  const m = stats.memory;
  if (!m) return {};
  // Docker: an unlimited (or above-host) limit is reported as the host's memory.
  const limit = m.limit === null || (machineMemory > 0 && m.limit > machineMemory) ? machineMemory : m.limit;
  if (version === 'v1') {
    return {
      usage: m.usage,
      ...(m.maxUsage !== undefined ? { max_usage: m.maxUsage } : {}),
      stats: m.stat,
      ...(m.failcnt !== undefined ? { failcnt: m.failcnt } : {}),
      limit,
    };
  }
  return { usage: m.usage, stats: m.stat, limit };
}

function blkioJson(stats: CgroupStats, version: 'v1' | 'v2'): BlkioStatsJson {
  const devices = stats.io?.devices ?? [];
  const bytes: BlkioStatEntry[] = [];
  const ops: BlkioStatEntry[] = [];
  for (const d of devices) {
    const { major, minor } = d;
    if (version === 'v1') {
      // The kernel's own names on v1; Sync/Async/Discard are not collected, Total is Read+Write.
      bytes.push({ major, minor, op: 'Read', value: d.readBytes }, { major, minor, op: 'Write', value: d.writeBytes }, { major, minor, op: 'Total', value: d.readBytes + d.writeBytes });
      ops.push({ major, minor, op: 'Read', value: d.readOps }, { major, minor, op: 'Write', value: d.writeOps }, { major, minor, op: 'Total', value: d.readOps + d.writeOps });
    } else {
      bytes.push({ major, minor, op: 'read', value: d.readBytes }, { major, minor, op: 'write', value: d.writeBytes });
      ops.push({ major, minor, op: 'read', value: d.readOps }, { major, minor, op: 'write', value: d.writeOps });
    }
  }
  // What dockerd 20.10 sends, seen on this host: v1 copies the kernel's lists (empty ones as []); v2 fills two lists and leaves the rest null.
  const empty = version === 'v1' ? [] : null;
  return {
    io_service_bytes_recursive: bytes.length > 0 ? bytes : empty,
    io_serviced_recursive: ops.length > 0 ? ops : empty,
    io_queue_recursive: version === 'v1' ? [] : null,
    io_service_time_recursive: version === 'v1' ? [] : null,
    io_wait_time_recursive: version === 'v1' ? [] : null,
    io_merged_recursive: version === 'v1' ? [] : null,
    io_time_recursive: version === 'v1' ? [] : null,
    sectors_recursive: version === 'v1' ? [] : null,
  };
}

function pidsJson(stats: CgroupStats): PidsStatsJson {
  const p = stats.pids;
  if (!p) return {};
  return { ...(p.current > 0 ? { current: p.current } : {}), ...(p.limit !== null && p.limit > 0 ? { limit: p.limit } : {}) };
}

/** One StatsJSON document (a line of the stats stream, or the one-shot answer). */
export function dockerStats(current: CgroupStats, previous: PreviousStats | undefined, meta: StatsMeta): ContainerStatsResponse {
  const version = meta.cgroupVersion ?? (current.cpu?.perCpuNs !== undefined ? 'v1' : 'v2');
  const system = meta.system ?? systemCpuUsageNs();
  const read = meta.read ?? new Date().toISOString();
  const machineMemory = meta.machineMemory ?? totalmem();
  const out: ContainerStatsResponse = {
    read,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: pidsJson(current),
    blkio_stats: blkioJson(current, version),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuJson(current.cpu, system, meta.onlineCpus),
    precpu_stats: previous ? cpuJson(previous.cgroup.cpu, previous.system, meta.onlineCpus) : cpuJson(undefined, 0, 0),
    memory_stats: memoryJson(current, version, machineMemory),
    name: meta.name.startsWith('/') ? meta.name : `/${meta.name}`,
    id: meta.id,
  };
  if (meta.networks && Object.keys(meta.networks).length > 0) out.networks = meta.networks;
  return out;
}

/** The docker CLI's CPU % from one StatsJSON (for tests and `berth stats`). */
export function cpuPercent(s: ContainerStatsResponse): number {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus ?? s.cpu_stats.cpu_usage.percpu_usage?.length ?? 0;
  if (systemDelta <= 0 || cpuDelta <= 0) return 0;
  return (cpuDelta / systemDelta) * cpus * 100;
}

/** The docker CLI's memory usage: usage minus inactive file pages (v1 total_inactive_file, v2 inactive_file). */
export function memoryUsage(s: ContainerStatsResponse): number {
  const m = s.memory_stats;
  const usage = m.usage ?? 0;
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file;
  if (inactive !== undefined && inactive < usage) return usage - inactive;
  return usage;
}
