/**
 * What the kernel says about processes and the machine: resident memory
 * (VmRSS) and proportional set size (Pss from smaps_rollup, which splits
 * shared pages such as a common binary's text between the processes mapping
 * them), processes of one program that belong to one engine (found by a
 * directory on their command line or as their cwd), and the load average
 * printed next to every figure on this shared machine.
 */
import { readFileSync } from 'node:fs';
import { pidsReferencing } from '../../test/helpers/peers/process.ts';

export interface Memory {
  rssKiB: number;
  pssKiB: number;
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export function processMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  let pss = NaN;
  try {
    pss = field(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
  } catch {
    /* kernel without smaps_rollup: RSS only */
  }
  return { rssKiB: field(status, 'VmRSS'), pssKiB: pss };
}

export function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** PIDs whose comm starts with `program` (comm is cut at 15 bytes) and that mention `dir`. */
export function enginePids(program: string, dir: string): number[] {
  return pidsReferencing(dir).filter((pid) => comm(pid).startsWith(program.slice(0, 15)));
}

/** "1.92 2.10 2.34" (1, 5, 15 minutes). */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

export function loadOneMinute(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

export function kib(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value >= 10240 ? `${(value / 1024).toFixed(1)} MiB` : `${value.toFixed(0)} KiB`;
}
