/**
 * Translations between the OCI resources (cgroup v1 vocabulary) and cgroup v2
 * files, the same arithmetic runc and crun use so that a container limited by
 * berth gets the numbers it would get from them.
 */
import { BerthError } from '../../common/errors.ts';

/** cpu.shares [2, 262144] → cpu.weight [1, 10000]; 0 means unset. (runc ConvertCPUSharesToCgroupV2Value) */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

/** blkio.weight [10, 1000] → io.weight [1, 10000]. (runc ConvertBlkIOToIOWeightValue) */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/**
 * OCI memory.swap is memory+swap (v1 memsw); v2's memory.swap.max is swap
 * alone. -1 stays unlimited; swap without a memory limit cannot be expressed.
 * (runc ConvertMemorySwapToCgroupV2Value)
 */
export function memorySwapToV2(swap: number | undefined, limit: number | undefined): string | undefined {
  if (swap === undefined || swap === 0) return undefined;
  if (swap === -1) return 'max';
  if (limit === undefined || limit === 0) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.memory.swap=${swap} needs memory.limit on cgroup v2 (swap.max = swap - limit)`, { status: 400 });
  }
  if (limit === -1) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.memory.swap=${swap} with an unlimited memory.limit cannot be expressed on cgroup v2`, { status: 400 });
  }
  if (swap < limit) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `linux.resources.memory.swap=${swap} is below memory.limit=${limit} (swap is memory+swap, so it must be ≥ the limit)`, { status: 400 });
  }
  return String(swap - limit);
}

/** v2 cpu.max "quota period": quota -1/unset → "max". */
export function cpuMax(quota: number | undefined, period: number | undefined): string | undefined {
  if ((quota === undefined || quota === 0) && (period === undefined || period === 0)) return undefined;
  const q = quota === undefined || quota === 0 || quota < 0 ? 'max' : String(quota);
  return period ? `${q} ${period}` : q;
}

/** -1 → "max"; positive → number string; undefined/0 → undefined (leave as is). */
export function limitValue(v: number | undefined): string | undefined {
  if (v === undefined || v === 0) return undefined;
  return v < 0 ? 'max' : String(v);
}

/** Hugepage size as the files name it: "2MB", "1GB" (v1 and v2 agree). */
export function checkPageSize(pageSize: string, where: string): string {
  if (typeof pageSize !== 'string' || !/^[0-9]+(KB|MB|GB)$/.test(pageSize)) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.pageSize ${JSON.stringify(pageSize)}: expected a size like 2MB or 1GB`, { status: 400 });
  }
  return pageSize;
}

/** The device-rule line devices.allow/deny take: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleLine(rule: { type?: string; major?: number | null; minor?: number | null; access?: string }, where: string): string {
  const type = rule.type ?? 'a';
  if (!['a', 'b', 'c'].includes(type)) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.type ${JSON.stringify(type)}: expected a, b or c`, { status: 400 });
  }
  const num = (n: number | null | undefined, field: string) => {
    if (n === undefined || n === null || n === -1) return '*';
    if (!Number.isInteger(n) || n < 0) throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.${field}: expected a device number or null, got ${JSON.stringify(n)}`, { status: 400 });
    return String(n);
  };
  const access = rule.access ?? 'rwm';
  if (!/^[rwm]{1,3}$/.test(access)) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.access ${JSON.stringify(access)}: expected a combination of r, w and m`, { status: 400 });
  }
  if (type === 'a') return `a *:* ${access}`;
  return `${type} ${num(rule.major, 'major')}:${num(rule.minor, 'minor')} ${access}`;
}

export function checkInteger(value: unknown, where: string, min = -1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}: expected an integer ≥ ${min}, got ${JSON.stringify(value)}`, { status: 400 });
  }
  return value;
}

/** cpuset lists: "0-3,5". */
export function checkCpuList(value: string, where: string): string {
  if (typeof value !== 'string' || !/^\s*(\d+(-\d+)?)(\s*,\s*\d+(-\d+)?)*\s*$/.test(value)) {
    throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where} ${JSON.stringify(value)}: expected a list like 0-3,5`, { status: 400 });
  }
  return value.replace(/\s+/g, '');
}
