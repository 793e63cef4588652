/** Shared pieces of the cgroup integration tests: gated children, cleanup. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager } from '../../../src/runtime/cgroups/index.ts';

let counter = 0;
/** A unique one-level cgroup path so destroy() leaves nothing behind. */
export function testCgroupPath(what: string): string {
  return `/berth-test-${what}-${process.pid}-${counter++}`;
}

export interface Gated {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Let the script past its `read`. */
  release: () => void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start `busybox sh -c 'read _; SCRIPT'`: the process exists (and can be put
 * into a cgroup) before it does anything worth limiting.
 */
export function spawnGated(script: string): Gated {
  const child = spawn('/bin/busybox', ['sh', '-c', `read _; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': 'exit' can come before the last stdout/stderr data (a test then read '').
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    release: () => child.stdin!.end('\n'),
    exited,
  };
}

/** Kill what a test started (by pid) and remove its cgroups, even after a failure. */
export class Cleanup {
  private managers: CgroupManager[] = [];
  private children: ChildProcess[] = [];
  track<T extends CgroupManager>(m: T): T {
    this.managers.push(m);
    return m;
  }
  child(g: Gated): Gated {
    this.children.push(g.child);
    return g;
  }
  async run(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    for (const m of this.managers) await m.destroy({ kill: true }).catch((err) => console.error('cleanup:', err));
    // Anything named for this test run that a failed create left behind.
    for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
      const base = join('/sys/fs/cgroup', hierarchy);
      if (!existsSync(join(base, 'cgroup.procs'))) continue;
      for (const name of readdirSync(base)) {
        if (name.startsWith('berth-test-') && name.includes(`-${process.pid}-`)) {
          try {
            rmdirSync(join(base, name));
          } catch (err) {
            console.error('cleanup:', (err as Error).message);
          }
        }
      }
    }
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitUntil(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}
