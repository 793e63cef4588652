/**
 * cgroup v1 driver: one directory per hierarchy (/sys/fs/cgroup/<controller>/<path>),
 * limits written in v1 vocabulary. In hybrid mode the group is also created in
 * the cgroup2 mount, which holds the controllers v1 does not (hugetlb on these
 * machines) and lets systemd-style tooling see the container.
 */
import { join, posix } from 'node:path';
import type { LinuxResources } from '../../oci/runtime-spec.ts';
import { BerthError } from '../../common/errors.ts';
import type { CgroupLayout, CgroupMount } from './layout.ts';
import type { CgroupManager, CgroupStats, DestroyOptions } from './types.ts';
import { hierarchyDir } from './path.ts';
import {
  writeCgroupFile,
  readCgroupFile,
  tryReadCgroupFile,
  hasCgroupFile,
  parseLimit,
  parseNumber,
  parseKeyValues,
  makeCgroupDir,
  removeCgroupTree,
  sleep,
  killAll,
  parseBlkioStats,
} from './files.ts';
import { checkCpuList, checkInteger, checkPageSize, deviceRuleLine } from './convert.ts';
import { collectProcesses, enableV2Controllers, waitForEmpty, writeUnified } from './common.ts';

/** USER_HZ: cpuacct.stat counts in 1/100 s. */
const NS_PER_TICK = 10_000_000;

export class CgroupV1Manager implements CgroupManager {
  readonly version = 'v1' as const;
  readonly path: string;
  /** controller (and "name=systemd") → directory of this group in its hierarchy */
  private readonly dirs = new Map<string, string>();
  /** one entry per hierarchy (co-mounted controllers share one) */
  private readonly hierarchies: { mount: CgroupMount; dir: string }[] = [];
  private readonly unified?: { mount: CgroupMount; dir: string };

  constructor(path: string, layout: CgroupLayout) {
    this.path = path;
    for (const mount of layout.mounts) {
      const dir = hierarchyDir(mount.mountPoint, mount.root, path);
      if (mount.type === 'v1') {
        this.hierarchies.push({ mount, dir });
        for (const c of mount.controllers) this.dirs.set(c, dir);
      } else if (layout.mode === 'hybrid') {
        this.unified = { mount, dir };
      }
    }
  }

  paths(): Record<string, string> {
    const out: Record<string, string> = Object.fromEntries(this.dirs);
    if (this.unified) out.unified = this.unified.dir;
    return out;
  }

  private allDirs(): string[] {
    const dirs = this.hierarchies.map((h) => h.dir);
    if (this.unified) dirs.push(this.unified.dir);
    return dirs;
  }

  private dirFor(controller: string, where: string): string {
    const dir = this.dirs.get(controller);
    if (!dir) {
      throw new BerthError('BERTH_CGROUPS_CONTROLLER_MISSING', `${where} needs the ${controller} cgroup controller, which is not mounted on this host (cgroup v1 hierarchies: ${[...this.dirs.keys()].join(', ')})`, { status: 400 });
    }
    return dir;
  }

  exists(): boolean {
    return this.allDirs().some((d) => hasCgroupFile(d, 'cgroup.procs'));
  }

  async create(resources: LinuxResources = {}): Promise<void> {
    try {
      for (const { mount, dir } of this.hierarchies) {
        makeCgroupDir(dir);
        // cpuset groups start with empty cpus/mems, and an empty cpuset cannot
        // take processes: copy the parent's at every level we may have made.
        if (mount.controllers.includes('cpuset')) inheritCpuset(mount.mountPoint, dir);
      }
      if (this.unified) makeCgroupDir(this.unified.dir);
      await this.apply(resources);
    } catch (err) {
      await this.destroy({ kill: false, timeoutMs: 500 }).catch(() => {});
      throw err;
    }
  }

  procsFiles(): string[] {
    return this.allDirs().map((d) => join(d, 'cgroup.procs'));
  }

  async addProcess(pid: number): Promise<void> {
    checkPid(pid);
    for (const dir of this.allDirs()) writeCgroupFile(dir, 'cgroup.procs', pid);
  }

  async update(resources: LinuxResources): Promise<void> {
    await this.apply(resources);
  }

  private async apply(r: LinuxResources): Promise<void> {
    if (r === null || typeof r !== 'object') throw new BerthError('BERTH_CGROUPS_RESOURCE', 'linux.resources: expected an object', { status: 400 });
    if (r.memory) this.applyMemory(r.memory);
    if (r.cpu) this.applyCpu(r.cpu);
    if (r.pids && r.pids.limit !== undefined && r.pids.limit !== 0) {
      const limit = checkInteger(r.pids.limit, 'linux.resources.pids.limit');
      writeCgroupFile(this.dirFor('pids', 'linux.resources.pids'), 'pids.max', limit < 0 ? 'max' : limit);
    }
    if (r.blockIO) this.applyBlockIO(r.blockIO);
    if (r.hugepageLimits?.length) this.applyHugepages(r.hugepageLimits);
    if (r.devices?.length) {
      const dir = this.dirFor('devices', 'linux.resources.devices');
      r.devices.forEach((rule, i) => {
        const where = `linux.resources.devices[${i}]`;
        if (typeof rule?.allow !== 'boolean') throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.allow: expected true or false`, { status: 400 });
        writeCgroupFile(dir, rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleLine(rule, where));
      });
    }
    if (r.network) {
      if (r.network.classID !== undefined) writeCgroupFile(this.dirFor('net_cls', 'linux.resources.network.classID'), 'net_cls.classid', checkInteger(r.network.classID, 'linux.resources.network.classID', 0));
      for (const [i, p] of (r.network.priorities ?? []).entries()) {
        writeCgroupFile(this.dirFor('net_prio', `linux.resources.network.priorities[${i}]`), 'net_prio.ifpriomap', `${p.name} ${checkInteger(p.priority, `linux.resources.network.priorities[${i}].priority`, 0)}`);
      }
    }
    if (r.rdma && Object.keys(r.rdma).length) {
      const dir = this.dirFor('rdma', 'linux.resources.rdma');
      for (const [dev, lim] of Object.entries(r.rdma)) {
        const parts = [dev];
        if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
        if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
        writeCgroupFile(dir, 'rdma.max', parts.join(' '));
      }
    }
    if (r.unified && Object.keys(r.unified).length) {
      if (!this.unified) {
        throw new BerthError('BERTH_CGROUPS_UNSUPPORTED', 'linux.resources.unified: this host runs cgroup v1 without a cgroup2 mount; unified (v2) settings cannot be applied', { status: 400 });
      }
      writeUnified(this.unified.dir, r.unified);
    }
  }

  private applyMemory(m: NonNullable<LinuxResources['memory']>): void {
    const where = 'linux.resources.memory';
    const wants = m.limit || m.reservation || m.swap || m.swappiness !== undefined || m.disableOOMKiller;
    if (!wants) return;
    const dir = this.dirFor('memory', where);
    const limit = m.limit ? checkInteger(m.limit, `${where}.limit`) : undefined;
    const swap = m.swap ? checkInteger(m.swap, `${where}.swap`) : undefined;
    if (swap !== undefined && swap > 0 && limit !== undefined && limit > 0 && swap < limit) {
      throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.swap=${swap} is below ${where}.limit=${limit} (swap is memory+swap, so it must be ≥ the limit)`, { status: 400 });
    }
    if (swap !== undefined) {
      if (!hasCgroupFile(dir, 'memory.memsw.limit_in_bytes')) {
        throw new BerthError('BERTH_CGROUPS_UNSUPPORTED', `${where}.swap: this kernel has no swap accounting (memory.memsw.limit_in_bytes missing; boot with swapaccount=1)`, { status: 400 });
      }
      // memsw must stay ≥ the memory limit at every step: raise memsw first when
      // it grows, lower the limit first when it shrinks.
      const current = parseLimit(tryReadCgroupFile(dir, 'memory.memsw.limit_in_bytes'));
      const memswFirst = swap === -1 || (current !== null && current !== undefined && swap > current);
      if (memswFirst) {
        writeCgroupFile(dir, 'memory.memsw.limit_in_bytes', swap);
        if (limit !== undefined) writeCgroupFile(dir, 'memory.limit_in_bytes', limit);
      } else {
        if (limit !== undefined) writeCgroupFile(dir, 'memory.limit_in_bytes', limit);
        writeCgroupFile(dir, 'memory.memsw.limit_in_bytes', swap);
      }
    } else if (limit !== undefined) {
      writeCgroupFile(dir, 'memory.limit_in_bytes', limit);
    }
    if (m.reservation) writeCgroupFile(dir, 'memory.soft_limit_in_bytes', checkInteger(m.reservation, `${where}.reservation`));
    // swappiness is a u64 in the spec; "unset" often arrives as 2^64-1.
    if (m.swappiness !== undefined && m.swappiness !== null && m.swappiness < 2 ** 63) {
      if (!Number.isInteger(m.swappiness) || m.swappiness < 0 || m.swappiness > 100) {
        throw new BerthError('BERTH_CGROUPS_RESOURCE', `${where}.swappiness: expected 0–100, got ${JSON.stringify(m.swappiness)}`, { status: 400 });
      }
      writeCgroupFile(dir, 'memory.swappiness', m.swappiness);
    }
    if (m.disableOOMKiller) writeCgroupFile(dir, 'memory.oom_control', 1);
    // kernel / kernelTCP: kernel-memory limits are deprecated and unsupported on
    // current kernels; ignored, as runc ≥ 1.2 does.
  }

  private applyCpu(c: NonNullable<LinuxResources['cpu']>): void {
    const where = 'linux.resources.cpu';
    if (c.shares) writeCgroupFile(this.dirFor('cpu', `${where}.shares`), 'cpu.shares', checkInteger(c.shares, `${where}.shares`, 2));
    if (c.period || c.quota) {
      const dir = this.dirFor('cpu', `${where}.quota`);
      const period = c.period ? checkInteger(c.period, `${where}.period`, 1000) : undefined;
      const quota = c.quota ? checkInteger(c.quota, `${where}.quota`) : undefined;
      // Each write is checked against the other's current value; if the period
      // cannot go first, the quota can.
      try {
        if (period !== undefined) writeCgroupFile(dir, 'cpu.cfs_period_us', period);
        if (quota !== undefined) writeCgroupFile(dir, 'cpu.cfs_quota_us', quota);
      } catch (err) {
        if (period === undefined || quota === undefined) throw err;
        writeCgroupFile(dir, 'cpu.cfs_quota_us', quota);
        writeCgroupFile(dir, 'cpu.cfs_period_us', period);
      }
    }
    if (c.burst !== undefined && c.burst !== null) writeCgroupFile(this.dirFor('cpu', `${where}.burst`), 'cpu.cfs_burst_us', checkInteger(c.burst, `${where}.burst`, 0));
    if (c.realtimePeriod) writeCgroupFile(this.dirFor('cpu', `${where}.realtimePeriod`), 'cpu.rt_period_us', checkInteger(c.realtimePeriod, `${where}.realtimePeriod`, 1));
    if (c.realtimeRuntime) writeCgroupFile(this.dirFor('cpu', `${where}.realtimeRuntime`), 'cpu.rt_runtime_us', checkInteger(c.realtimeRuntime, `${where}.realtimeRuntime`));
    if (c.idle !== undefined && c.idle !== null) writeCgroupFile(this.dirFor('cpu', `${where}.idle`), 'cpu.idle', checkInteger(c.idle, `${where}.idle`, 0));
    if (c.cpus) writeCgroupFile(this.dirFor('cpuset', `${where}.cpus`), 'cpuset.cpus', checkCpuList(c.cpus, `${where}.cpus`));
    if (c.mems) writeCgroupFile(this.dirFor('cpuset', `${where}.mems`), 'cpuset.mems', checkCpuList(c.mems, `${where}.mems`));
  }

  private applyBlockIO(b: NonNullable<LinuxResources['blockIO']>): void {
    const where = 'linux.resources.blockIO';
    const needs = b.weight || b.leafWeight || b.weightDevice?.length || b.throttleReadBpsDevice?.length || b.throttleWriteBpsDevice?.length || b.throttleReadIOPSDevice?.length || b.throttleWriteIOPSDevice?.length;
    if (!needs) return;
    const dir = this.dirFor('blkio', where);
    // CFQ's blkio.weight is gone with the legacy block layer; BFQ offers blkio.bfq.weight.
    const weightFile = hasCgroupFile(dir, 'blkio.weight') ? 'blkio.weight' : hasCgroupFile(dir, 'blkio.bfq.weight') ? 'blkio.bfq.weight' : undefined;
    const noWeight = (field: string) =>
      new BerthError('BERTH_CGROUPS_UNSUPPORTED', `${where}.${field}: this kernel offers no blkio weight (neither blkio.weight nor blkio.bfq.weight exists in ${dir}; the BFQ I/O scheduler is not in use)`, { status: 400 });
    if (b.weight) {
      if (!weightFile) throw noWeight('weight');
      writeCgroupFile(dir, weightFile, checkInteger(b.weight, `${where}.weight`, 10));
    }
    if (b.leafWeight) writeCgroupFile(dir, 'blkio.leaf_weight', checkInteger(b.leafWeight, `${where}.leafWeight`, 10));
    for (const [i, d] of (b.weightDevice ?? []).entries()) {
      if (d.weight === undefined) continue;
      if (!weightFile) throw noWeight(`weightDevice[${i}]`);
      // BFQ's weight file takes "major:minor weight" lines itself.
      const deviceFile = weightFile === 'blkio.weight' ? 'blkio.weight_device' : 'blkio.bfq.weight';
      writeCgroupFile(dir, deviceFile, `${devNumber(d, `${where}.weightDevice[${i}]`)} ${checkInteger(d.weight, `${where}.weightDevice[${i}].weight`, 10)}`);
    }
    const throttles: [keyof typeof b, string][] = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ];
    for (const [field, file] of throttles) {
      const list = (b[field] ?? []) as { major: number; minor: number; rate: number }[];
      list.forEach((d, i) => writeCgroupFile(dir, file, `${devNumber(d, `${where}.${field}[${i}]`)} ${checkInteger(d.rate, `${where}.${field}[${i}].rate`, 0)}`));
    }
  }

  private applyHugepages(limits: NonNullable<LinuxResources['hugepageLimits']>): void {
    const v1 = this.dirs.get('hugetlb');
    limits.forEach((h, i) => {
      const where = `linux.resources.hugepageLimits[${i}]`;
      const size = checkPageSize(h.pageSize, where);
      const limit = checkInteger(h.limit, `${where}.limit`, 0);
      if (v1) {
        writeCgroupFile(v1, `hugetlb.${size}.limit_in_bytes`, limit);
      } else if (this.unified && this.unified.mount.controllers.includes('hugetlb')) {
        // Hybrid hosts may hand hugetlb to the cgroup2 side (as these machines do).
        enableV2Controllers(this.unified.mount, this.path, ['hugetlb']);
        writeCgroupFile(this.unified.dir, `hugetlb.${size}.max`, limit);
      } else {
        throw new BerthError('BERTH_CGROUPS_CONTROLLER_MISSING', `${where} needs the hugetlb cgroup controller, which this host does not offer`, { status: 400 });
      }
    });
  }

  async stats(): Promise<CgroupStats> {
    const out: CgroupStats = {};
    const mem = this.dirs.get('memory');
    if (mem && hasCgroupFile(mem, 'memory.usage_in_bytes')) {
      const stat = Object.fromEntries(parseKeyValues(tryReadCgroupFile(mem, 'memory.stat')));
      out.memory = {
        usage: parseNumber(readCgroupFile(mem, 'memory.usage_in_bytes')) ?? 0,
        limit: parseLimit(tryReadCgroupFile(mem, 'memory.limit_in_bytes')) ?? null,
        maxUsage: parseNumber(tryReadCgroupFile(mem, 'memory.max_usage_in_bytes')),
        failcnt: parseNumber(tryReadCgroupFile(mem, 'memory.failcnt')),
        oomKills: parseKeyValues(tryReadCgroupFile(mem, 'memory.oom_control')).get('oom_kill') ?? 0,
        cache: stat.cache,
        rss: stat.rss,
        stat,
      };
    }
    const acct = this.dirs.get('cpuacct');
    const cpu = this.dirs.get('cpu');
    if (acct && hasCgroupFile(acct, 'cpuacct.usage')) {
      const ticks = parseKeyValues(tryReadCgroupFile(acct, 'cpuacct.stat'));
      const throttling = cpu ? parseKeyValues(tryReadCgroupFile(cpu, 'cpu.stat')) : new Map<string, number>();
      out.cpu = {
        usageNs: parseNumber(readCgroupFile(acct, 'cpuacct.usage')) ?? 0,
        userNs: ticks.has('user') ? ticks.get('user')! * NS_PER_TICK : undefined,
        systemNs: ticks.has('system') ? ticks.get('system')! * NS_PER_TICK : undefined,
        perCpuNs: tryReadCgroupFile(acct, 'cpuacct.usage_percpu')?.trim().split(/\s+/).filter(Boolean).map(Number),
        periods: throttling.get('nr_periods'),
        throttledPeriods: throttling.get('nr_throttled'),
        throttledNs: throttling.get('throttled_time'),
      };
    }
    const blkio = this.dirs.get('blkio');
    if (blkio && hasCgroupFile(blkio, 'blkio.throttle.io_service_bytes_recursive')) {
      out.io = parseBlkioStats(tryReadCgroupFile(blkio, 'blkio.throttle.io_service_bytes_recursive'), tryReadCgroupFile(blkio, 'blkio.throttle.io_serviced_recursive'));
    }
    const pids = this.dirs.get('pids');
    if (pids && hasCgroupFile(pids, 'pids.current')) {
      out.pids = { current: parseNumber(readCgroupFile(pids, 'pids.current')) ?? 0, limit: parseLimit(tryReadCgroupFile(pids, 'pids.max')) ?? null };
    }
    return out;
  }

  async oomKillCount(): Promise<number> {
    const mem = this.dirFor('memory', 'OOM events');
    return parseKeyValues(readCgroupFile(mem, 'memory.oom_control')).get('oom_kill') ?? 0;
  }

  async freeze(timeoutMs = 5000): Promise<void> {
    const dir = this.dirFor('freezer', 'freeze');
    const deadline = Date.now() + timeoutMs;
    // FREEZING can stall when a task is mid-exit or in vfork; writing FROZEN
    // again retries the freeze, as runc does.
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      writeCgroupFile(dir, 'freezer.state', 'FROZEN');
      if (readCgroupFile(dir, 'freezer.state').trim() === 'FROZEN') return;
      if (Date.now() >= deadline) {
        writeCgroupFile(dir, 'freezer.state', 'THAWED');
        throw new BerthError('BERTH_CGROUPS_FREEZE', `cgroup ${dir} did not reach FROZEN within ${timeoutMs} ms (thawed again)`);
      }
      await sleep(delay);
    }
  }

  async thaw(): Promise<void> {
    writeCgroupFile(this.dirFor('freezer', 'thaw'), 'freezer.state', 'THAWED');
  }

  async isFrozen(): Promise<boolean> {
    const dir = this.dirs.get('freezer');
    return dir ? tryReadCgroupFile(dir, 'freezer.state')?.trim() === 'FROZEN' : false;
  }

  async processes(): Promise<number[]> {
    const dir = this.dirs.get('pids') ?? this.dirs.get('memory') ?? this.dirs.get('freezer') ?? this.hierarchies[0]?.dir;
    return dir ? collectProcesses(dir) : [];
  }

  async destroy(opts: DestroyOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.kill) {
      const freezer = this.dirs.get('freezer');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pids = await this.processes();
        if (pids.length === 0) break;
        // Freeze first so nothing forks between listing and killing.
        const canFreeze = freezer && hasCgroupFile(freezer, 'freezer.state');
        if (canFreeze) await this.freeze(Math.max(100, deadline - Date.now())).catch(() => {});
        killAll(pids);
        if (canFreeze) await this.thaw().catch(() => {});
        if (await waitForEmpty(() => this.processes(), Math.min(200, Math.max(0, deadline - Date.now())))) break;
        if (Date.now() >= deadline) break;
      }
    }
    const errors: unknown[] = [];
    for (const dir of this.allDirs()) {
      await removeCgroupTree(dir, timeoutMs).catch((err) => errors.push(err));
    }
    if (errors.length) throw errors[0];
  }
}

function inheritCpuset(mountPoint: string, dir: string): void {
  const rel = posix.relative(mountPoint, dir).split('/').filter(Boolean);
  let parent = mountPoint;
  for (const part of rel) {
    const here = posix.join(parent, part);
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if ((tryReadCgroupFile(here, file) ?? '').trim() === '') {
        writeCgroupFile(here, file, readCgroupFile(parent, file).trim());
      }
    }
    parent = here;
  }
}

function devNumber(d: { major: number; minor: number }, where: string): string {
  return `${checkInteger(d.major, `${where}.major`, 0)}:${checkInteger(d.minor, `${where}.minor`, 0)}`;
}

export function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new BerthError('BERTH_CGROUPS_PID', `cannot add process ${JSON.stringify(pid)} to a cgroup: expected a positive pid`, { status: 400 });
  }
}
