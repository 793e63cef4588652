/**
 * Reading and writing cgroupfs files with errors that name the file and the
 * value — "write 67108864 to /sys/fs/cgroup/memory/x/memory.limit_in_bytes:
 * EBUSY" tells a user what to fix; a bare EBUSY does not.
 */
import { openSync, writeSync, closeSync, readFileSync, existsSync, readdirSync, rmdirSync, mkdirSync, constants } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../common/errors.ts';
import type { IoDeviceStats, IoStats } from './types.ts';

export function writeCgroupFile(dir: string, file: string, value: string | number): void {
  const path = join(dir, file);
  const text = String(value);
  let fd: number;
  try {
    // No O_CREAT: cgroupfs files exist or the controller is missing.
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? ' (file missing: controller not enabled here, or not supported by this kernel)' : '';
    throw new BerthError('BERTH_CGROUPS_WRITE', `cannot write ${JSON.stringify(text)} to ${path}: ${e.code ?? e.message}${why}`, { cause: err });
  }
  try {
    // One write(2): cgroupfs parses each write as one value.
    writeSync(fd, text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint =
      e.code === 'EBUSY' && file.startsWith('memory.')
        ? ' (the group uses more than that already)'
        : e.code === 'EINVAL'
          ? ' (value rejected by the kernel)'
          : e.code === 'ENOSPC' && file === 'cgroup.procs'
            ? ' (cpuset.cpus/mems empty, or no-internal-process rule)'
            : '';
    throw new BerthError('BERTH_CGROUPS_WRITE', `cannot write ${JSON.stringify(text)} to ${path}: ${e.code ?? e.message}${hint}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

export function readCgroupFile(dir: string, file: string): string {
  const path = join(dir, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BerthError('BERTH_CGROUPS_READ', `cannot read ${path}: ${e.code ?? e.message}`, { cause: err });
  }
}

export function tryReadCgroupFile(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

export function hasCgroupFile(dir: string, file: string): boolean {
  return existsSync(join(dir, file));
}

/** "max" → null (unlimited); numbers as numbers. v1's "unlimited" is a huge number: also null. */
export function parseLimit(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max' || t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n)) return undefined;
  return n >= 0x7ffffffffffff000 ? null : n;
}

export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** "key value\n" files (memory.stat, cpu.stat, memory.events, cgroup.events). */
export function parseKeyValues(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!text) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out.set(k, Number(v));
  }
  return out;
}

export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  return text.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

export function makeCgroupDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BerthError('BERTH_CGROUPS_CREATE', `cannot create cgroup ${dir}: ${e.code ?? e.message}`, { cause: err });
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * rmdir a cgroup and its child cgroups, deepest first. EBUSY (processes still
 * exiting, or the kernel not done with them) is retried for `timeoutMs`.
 */
export async function removeCgroupTree(dir: string, timeoutMs = 2000): Promise<void> {
  if (!existsSync(dir)) return;
  let children: string[] = [];
  try {
    children = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    /* vanished */
  }
  for (const child of children) await removeCgroupTree(child, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return;
      if (e.code !== 'EBUSY' || Date.now() >= deadline) {
        const pids = tryReadCgroupFile(dir, 'cgroup.procs')?.trim().split('\n').filter(Boolean) ?? [];
        const why = pids.length ? ` (still holds processes ${pids.join(', ')})` : '';
        throw new BerthError('BERTH_CGROUPS_REMOVE', `cannot remove cgroup ${dir}: ${e.code ?? e.message}${why}`, { cause: err });
      }
      await sleep(delay);
    }
  }
}

/** SIGKILL every listed process; ESRCH (already gone) is fine. */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}


function ioTotals(devices: IoDeviceStats[]): IoStats {
  const sum = (k: keyof IoDeviceStats) => devices.reduce((n, d) => n + d[k], 0);
  return { readBytes: sum('readBytes'), writeBytes: sum('writeBytes'), readOps: sum('readOps'), writeOps: sum('writeOps'), devices };
}

/** v1 blkio "8:0 Read 4096" lines (bytes file and ops file) → per-device stats. */
export function parseBlkioStats(bytesText: string | undefined, opsText: string | undefined): IoStats {
  const byDev = new Map<string, IoDeviceStats>();
  const feed = (text: string | undefined, read: 'readBytes' | 'readOps', write: 'writeBytes' | 'writeOps') => {
    for (const line of (text ?? '').split('\n')) {
      const m = /^(\d+):(\d+) (Read|Write) (\d+)$/.exec(line.trim());
      if (!m) continue;
      const key = `${m[1]}:${m[2]}`;
      let d = byDev.get(key);
      if (!d) {
        d = { major: Number(m[1]), minor: Number(m[2]), readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
        byDev.set(key, d);
      }
      d[m[3] === 'Read' ? read : write] += Number(m[4]);
    }
  };
  feed(bytesText, 'readBytes', 'writeBytes');
  feed(opsText, 'readOps', 'writeOps');
  return ioTotals([...byDev.values()]);
}

/** v2 io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" → per-device stats. */
export function parseIoStat(text: string | undefined): IoStats {
  const devices: IoDeviceStats[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = new Map(m[3]!.split(/\s+/).map((p) => p.split('=') as [string, string]));
    const n = (k: string) => Number(kv.get(k) ?? 0) || 0;
    devices.push({ major: Number(m[1]), minor: Number(m[2]), readBytes: n('rbytes'), writeBytes: n('wbytes'), readOps: n('rios'), writeOps: n('wios') });
  }
  return ioTotals(devices);
}
