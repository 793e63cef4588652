/**
 * cgroup v2 driver: one directory in the unified hierarchy, controllers
 * enabled down the path through cgroup.subtree_control, limits translated
 * from the OCI (v1-flavoured) resources the way runc does.
 *
 * Device rules: cgroup v2 has no devices.allow; it needs an eBPF program of
 * type BPF_PROG_TYPE_CGROUP_DEVICE attached to the group. berth compiles that
 * program (devices-ebpf.ts), but loading it takes bpf(2), i.e. native code:
 * the caller passes `attachDeviceProgram` (the launcher's loader). Without it,
 * a config with device rules is refused on v2 (BERTH_CGROUPS_DEVICES_UNSUPPORTED)
 * unless the caller opts in to running without device confinement
 * (`devices: 'ignore'`) — never silently.
 */
import { join } from 'node:path';
import type { LinuxResources } from '../../oci/runtime-spec.ts';
import { BerthError } from '../../common/errors.ts';
import type { CgroupMount } from './layout.ts';
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
  parseIoStat,
} from './files.ts';
import { blkioWeightToIoWeight, checkCpuList, checkInteger, checkPageSize, cpuMax, cpuSharesToWeight, limitValue, memorySwapToV2 } from './convert.ts';
import { collectProcesses, enableV2Controllers, waitForEmpty, writeUnified } from './common.ts';
import { checkPid } from './v1.ts';
import { compileDeviceProgram } from './devices-ebpf.ts';

export interface CgroupV2Options {
  /** Without attachDeviceProgram: refuse device rules (default) or run without device confinement. */
  devices?: 'error' | 'ignore';
  /**
   * Load `program` (struct bpf_insn[], BPF_PROG_TYPE_CGROUP_DEVICE) and attach
   * it to `cgroupDir` with BPF_CGROUP_DEVICE / BPF_F_ALLOW_MULTI.
   */
  attachDeviceProgram?: (cgroupDir: string, program: Buffer) => Promise<void> | void;
}

/** The controllers berth enables for its groups when the host offers them. */
const WANTED_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];

export class CgroupV2Manager implements CgroupManager {
  readonly version = 'v2' as const;
  readonly path: string;
  readonly dir: string;
  private readonly mount: CgroupMount;
  private readonly options: CgroupV2Options;
  /** controller → why it could not be enabled (set by create) */
  private unavailable = new Map<string, string>();

  constructor(path: string, mount: CgroupMount, options: CgroupV2Options = {}) {
    this.path = path;
    this.mount = mount;
    this.dir = hierarchyDir(mount.mountPoint, mount.root, path);
    this.options = options;
  }

  paths(): Record<string, string> {
    return { unified: this.dir };
  }

  exists(): boolean {
    return hasCgroupFile(this.dir, 'cgroup.procs');
  }

  async create(resources: LinuxResources = {}): Promise<void> {
    try {
      this.unavailable = enableV2Controllers(this.mount, this.path, WANTED_CONTROLLERS);
      makeCgroupDir(this.dir);
      await this.apply(resources, true);
    } catch (err) {
      await this.destroy({ timeoutMs: 500 }).catch(() => {});
      throw err;
    }
  }

  procsFiles(): string[] {
    return [join(this.dir, 'cgroup.procs')];
  }

  async addProcess(pid: number): Promise<void> {
    checkPid(pid);
    writeCgroupFile(this.dir, 'cgroup.procs', pid);
  }

  async update(resources: LinuxResources): Promise<void> {
    await this.apply(resources, false);
  }

  /** Fail clearly when a setting's controller is not enabled for this group. */
  private need(controller: string, where: string): string {
    const available = (tryReadCgroupFile(this.dir, 'cgroup.controllers') ?? '').trim().split(/\s+/);
    if (!available.includes(controller)) {
      const why = this.unavailable.get(controller) ?? `not in ${this.dir}/cgroup.controllers`;
      throw new BerthError('BERTH_CGROUPS_CONTROLLER_MISSING', `${where} needs the ${controller} controller in the cgroup v2 hierarchy, which is unavailable here: ${why}`, { status: 400 });
    }
    return this.dir;
  }

  private async apply(r: LinuxResources, creating: boolean): Promise<void> {
    if (r === null || typeof r !== 'object') throw new BerthError('BERTH_CGROUPS_RESOURCE', 'linux.resources: expected an object', { status: 400 });
    for (const [file, value, controller, where] of v2Writes(r)) {
      writeCgroupFile(this.need(controller, where), file, value);
    }
    if (r.devices?.length) {
      // Compile first: bad rules are input errors whatever the host can do.
      const program = compileDeviceProgram(r.devices);
      if (this.options.attachDeviceProgram) {
        if (!creating) {
          // Programs attached with ALLOW_MULTI all have to agree, so adding one
          // can only narrow access; replacing needs the old program's fd.
          throw new BerthError('BERTH_CGROUPS_UNSUPPORTED', 'linux.resources.devices: changing the device rules of a live cgroup v2 group is not supported', { status: 400 });
        }
        await this.options.attachDeviceProgram(this.dir, program);
      } else if (this.options.devices !== 'ignore') {
        throw new BerthError(
          'BERTH_CGROUPS_DEVICES_UNSUPPORTED',
          'linux.resources.devices: cgroup v2 enforces device rules only through an eBPF program, and no loader was given (attachDeviceProgram); pass one, or { devices: "ignore" } to run without device confinement',
          { status: 400 },
        );
      }
    }
    if (r.unified && Object.keys(r.unified).length) writeUnified(this.dir, r.unified);
  }

  async stats(): Promise<CgroupStats> {
    const out: CgroupStats = {};
    const d = this.dir;
    if (hasCgroupFile(d, 'memory.current')) {
      const stat = Object.fromEntries(parseKeyValues(tryReadCgroupFile(d, 'memory.stat')));
      const events = parseKeyValues(tryReadCgroupFile(d, 'memory.events'));
      out.memory = {
        usage: parseNumber(readCgroupFile(d, 'memory.current')) ?? 0,
        limit: parseLimit(tryReadCgroupFile(d, 'memory.max')) ?? null,
        maxUsage: parseNumber(tryReadCgroupFile(d, 'memory.peak')),
        failcnt: events.get('max'),
        oomKills: events.get('oom_kill') ?? 0,
        cache: stat.file,
        rss: stat.anon,
        stat,
      };
    }
    // cpu.stat's usage lines are there even without the cpu controller.
    const cpu = parseKeyValues(tryReadCgroupFile(d, 'cpu.stat'));
    if (cpu.has('usage_usec')) {
      const us = (k: string) => (cpu.has(k) ? cpu.get(k)! * 1000 : undefined);
      out.cpu = {
        usageNs: us('usage_usec')!,
        userNs: us('user_usec'),
        systemNs: us('system_usec'),
        periods: cpu.get('nr_periods'),
        throttledPeriods: cpu.get('nr_throttled'),
        throttledNs: us('throttled_usec'),
      };
    }
    if (hasCgroupFile(d, 'io.stat')) out.io = parseIoStat(tryReadCgroupFile(d, 'io.stat'));
    if (hasCgroupFile(d, 'pids.current')) {
      out.pids = { current: parseNumber(readCgroupFile(d, 'pids.current')) ?? 0, limit: parseLimit(tryReadCgroupFile(d, 'pids.max')) ?? null };
    }
    return out;
  }

  async oomKillCount(): Promise<number> {
    const text = tryReadCgroupFile(this.dir, 'memory.events');
    if (text === undefined) {
      throw new BerthError('BERTH_CGROUPS_CONTROLLER_MISSING', `OOM events need the memory controller: ${this.dir}/memory.events does not exist`);
    }
    return parseKeyValues(text).get('oom_kill') ?? 0;
  }

  async freeze(timeoutMs = 5000): Promise<void> {
    writeCgroupFile(this.dir, 'cgroup.freeze', 1);
    const deadline = Date.now() + timeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      if (parseKeyValues(readCgroupFile(this.dir, 'cgroup.events')).get('frozen') === 1) return;
      if (Date.now() >= deadline) {
        writeCgroupFile(this.dir, 'cgroup.freeze', 0);
        throw new BerthError('BERTH_CGROUPS_FREEZE', `cgroup ${this.dir} did not report "frozen 1" in cgroup.events within ${timeoutMs} ms (thawed again)`);
      }
      await sleep(delay);
    }
  }

  async thaw(): Promise<void> {
    writeCgroupFile(this.dir, 'cgroup.freeze', 0);
  }

  async isFrozen(): Promise<boolean> {
    return parseKeyValues(tryReadCgroupFile(this.dir, 'cgroup.events')).get('frozen') === 1;
  }

  async processes(): Promise<number[]> {
    return collectProcesses(this.dir);
  }

  async destroy(opts: DestroyOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.kill && this.exists()) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pids = await this.processes();
        if (pids.length === 0) break;
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks included.
        if (hasCgroupFile(this.dir, 'cgroup.kill')) writeCgroupFile(this.dir, 'cgroup.kill', 1);
        else killAll(pids);
        if (await waitForEmpty(() => this.processes(), Math.min(200, Math.max(0, deadline - Date.now())))) break;
        if (Date.now() >= deadline) break;
      }
    }
    await removeCgroupTree(this.dir, timeoutMs);
  }
}

type Write = [file: string, value: string, controller: string, where: string];

/** The v2 files and values for a resources object (pure, for unit tests). */
export function v2Writes(r: LinuxResources): Write[] {
  const out: Write[] = [];
  const m = r.memory;
  if (m) {
    const w = 'linux.resources.memory';
    const limit = m.limit ? checkInteger(m.limit, `${w}.limit`) : undefined;
    const swap = m.swap ? checkInteger(m.swap, `${w}.swap`) : undefined;
    // swap.max before memory.max is irrelevant on v2 (independent limits), but
    // a wrong swap must fail before anything is written.
    const swapMax = memorySwapToV2(swap, limit);
    const max = limitValue(limit);
    if (max) out.push(['memory.max', max, 'memory', `${w}.limit`]);
    if (swapMax) out.push(['memory.swap.max', swapMax, 'memory', `${w}.swap`]);
    if (m.reservation) out.push(['memory.low', limitValue(checkInteger(m.reservation, `${w}.reservation`))!, 'memory', `${w}.reservation`]);
    // swappiness and disableOOMKiller have no v2 file; runc ignores them too.
  }
  const c = r.cpu;
  if (c) {
    const w = 'linux.resources.cpu';
    if (c.shares) out.push(['cpu.weight', String(cpuSharesToWeight(checkInteger(c.shares, `${w}.shares`, 2))), 'cpu', `${w}.shares`]);
    const max = cpuMax(c.quota ? checkInteger(c.quota, `${w}.quota`) : undefined, c.period ? checkInteger(c.period, `${w}.period`, 1000) : undefined);
    if (max) out.push(['cpu.max', max, 'cpu', `${w}.quota`]);
    if (c.burst !== undefined && c.burst !== null) out.push(['cpu.max.burst', String(checkInteger(c.burst, `${w}.burst`, 0)), 'cpu', `${w}.burst`]);
    if (c.idle !== undefined && c.idle !== null) out.push(['cpu.idle', String(checkInteger(c.idle, `${w}.idle`, 0)), 'cpu', `${w}.idle`]);
    if (c.realtimePeriod || c.realtimeRuntime) {
      throw new BerthError('BERTH_CGROUPS_UNSUPPORTED', `${w}.realtimePeriod/realtimeRuntime: cgroup v2 has no realtime CPU bandwidth settings`, { status: 400 });
    }
    if (c.cpus) out.push(['cpuset.cpus', checkCpuList(c.cpus, `${w}.cpus`), 'cpuset', `${w}.cpus`]);
    if (c.mems) out.push(['cpuset.mems', checkCpuList(c.mems, `${w}.mems`), 'cpuset', `${w}.mems`]);
  }
  if (r.pids && r.pids.limit !== undefined && r.pids.limit !== 0) {
    out.push(['pids.max', limitValue(checkInteger(r.pids.limit, 'linux.resources.pids.limit'))!, 'pids', 'linux.resources.pids.limit']);
  }
  const b = r.blockIO;
  if (b) {
    const w = 'linux.resources.blockIO';
    if (b.weight) out.push(['io.weight', String(blkioWeightToIoWeight(checkInteger(b.weight, `${w}.weight`, 10))), 'io', `${w}.weight`]);
    for (const [i, d] of (b.weightDevice ?? []).entries()) {
      if (d.weight === undefined) continue;
      out.push(['io.weight', `${dev(d, `${w}.weightDevice[${i}]`)} ${blkioWeightToIoWeight(checkInteger(d.weight, `${w}.weightDevice[${i}].weight`, 10))}`, 'io', `${w}.weightDevice[${i}]`]);
    }
    const throttles: [keyof typeof b, string][] = [
      ['throttleReadBpsDevice', 'rbps'],
      ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'],
      ['throttleWriteIOPSDevice', 'wiops'],
    ];
    for (const [field, key] of throttles) {
      const list = (b[field] ?? []) as { major: number; minor: number; rate: number }[];
      list.forEach((d, i) => {
        const rate = checkInteger(d.rate, `${w}.${field}[${i}].rate`, 0);
        out.push(['io.max', `${dev(d, `${w}.${field}[${i}]`)} ${key}=${rate === 0 ? 'max' : rate}`, 'io', `${w}.${field}[${i}]`]);
      });
    }
  }
  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    const w = `linux.resources.hugepageLimits[${i}]`;
    out.push([`hugetlb.${checkPageSize(h.pageSize, w)}.max`, String(checkInteger(h.limit, `${w}.limit`, 0)), 'hugetlb', w]);
  }
  for (const [devName, lim] of Object.entries(r.rdma ?? {})) {
    const parts = [devName];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    out.push(['rdma.max', parts.join(' '), 'rdma', `linux.resources.rdma.${devName}`]);
  }
  if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) {
    throw new BerthError('BERTH_CGROUPS_UNSUPPORTED', 'linux.resources.network: net_cls/net_prio do not exist on cgroup v2 (use eBPF or nftables cgroup matching instead)', { status: 400 });
  }
  return out;
}

function dev(d: { major: number; minor: number }, where: string): string {
  return `${checkInteger(d.major, `${where}.major`, 0)}:${checkInteger(d.minor, `${where}.minor`, 0)}`;
}
