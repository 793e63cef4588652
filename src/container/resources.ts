/**
 * Docker's checks of a container's resource limits, made at create (and
 * update) so a bad value is a 400 naming it, not a container that fails to
 * start or silently runs unlimited. Messages are dockerd's.
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { BerthError } from '../common/errors.ts';
import type { HostConfig } from '../api/container-types.ts';

const bad = (message: string) => new BerthError('BERTH_CONTAINER_BAD_RESOURCES', message, { status: 400 });

/** The CPUs this host lets containers use (cpuset of the cgroup root, else all online). */
function onlineCpus(): Set<number> {
  for (const path of ['/sys/fs/cgroup/cpuset/cpuset.effective_cpus', '/sys/fs/cgroup/cpuset.cpus.effective', '/sys/devices/system/cpu/online']) {
    try {
      const set = parseCpuList(readFileSync(path, 'utf8').trim());
      if (set && set.size > 0) return set;
    } catch {
      /* next */
    }
  }
  return new Set(Array.from({ length: availableParallelism() }, (_, i) => i));
}

/** "0-2,5" → {0,1,2,5}; undefined when malformed. */
export function parseCpuList(list: string): Set<number> | undefined {
  const out = new Set<number>();
  if (list === '') return out;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return undefined;
    for (let c = from; c <= to; c++) out.add(c);
  }
  return out;
}

export function validateResources(hc: HostConfig): void {
  const memory = hc.Memory ?? 0;
  const swap = hc.MemorySwap ?? 0;
  if (memory !== 0 && memory < 6 * 1024 * 1024) throw bad('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory === 0) throw bad('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (swap > 0 && swap < memory) throw bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  if ((hc.MemoryReservation ?? 0) < 0) throw bad('Invalid MemoryReservation: it must be positive');
  if (memory > 0 && (hc.MemoryReservation ?? 0) > memory) throw bad('Minimum memory limit can not be less than memory reservation limit, see usage');
  if ((hc.CpuShares ?? 0) < 0) throw bad('Invalid CPU shares: it must be positive');
  const nano = hc.NanoCpus ?? 0;
  if (nano !== 0 && ((hc.CpuPeriod ?? 0) > 0 || (hc.CpuQuota ?? 0) > 0)) {
    throw bad('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  }
  const online = onlineCpus();
  const ncpu = online.size;
  if (nano < 0 || nano > ncpu * 1e9) throw bad(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  const period = hc.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1_000_000)) throw bad('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  const quota = hc.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw bad('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (hc.CpusetCpus) {
    const want = parseCpuList(hc.CpusetCpus);
    if (!want) throw bad(`Invalid value ${hc.CpusetCpus} for cpuset cpus`);
    const missing = [...want].filter((c) => !online.has(c));
    if (missing.length) throw bad(`Requested CPUs are not available - requested ${hc.CpusetCpus}, available: ${formatCpuList(online)}`);
  }
  if (hc.CpusetMems && !parseCpuList(hc.CpusetMems)) throw bad(`Invalid value ${hc.CpusetMems} for cpuset mems`);
  const blkio = hc.BlkioWeight ?? 0;
  if (blkio !== 0 && (blkio < 10 || blkio > 1000)) throw bad('Range of blkio weight is from 10 to 1000');
  if (hc.OomScoreAdj !== undefined && (hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000)) {
    throw bad(`Invalid value ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }
}

function formatCpuList(set: Set<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
