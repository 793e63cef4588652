import { spawn, execFile, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';

/**
 * Process plumbing shared by the peer harnesses: every peer is started by us,
 * tracked by its PID and stopped by that PID (never by name), so parallel
 * tests and colleagues' peers on the same machine are never touched.
 */

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartedProcess {
  child: ChildProcess;
  pid: number;
  logPath: string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string>;
  isRunning(): boolean;
}

/** Start a long-running peer with stdout+stderr in `logPath`; it is not detached from our lifetime. */
export function startLogged(command: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): StartedProcess {
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      resolve(code ?? signal ?? -1);
    });
    child.on('error', () => {
      running = false;
      resolve(-1);
    });
  });
  return { child, pid: child.pid, logPath, exited, isRunning: () => running };
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait for the exit. */
export async function stopProcess(proc: StartedProcess, graceMs = 15_000): Promise<void> {
  if (!proc.isRunning()) return;
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timedOut = Symbol('timeout');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    proc.exited,
    new Promise<symbol>((resolve) => {
      timer = setTimeout(() => resolve(timedOut), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (result === timedOut) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    await proc.exited;
  }
}

/** Poll `check` until it returns true; throws with `what` (and the log tail) on timeout or early exit. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs?: number; proc?: StartedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (options.proc && !options.proc.isRunning()) {
      throw new Error(`${what}: process exited early\n${logTail(options.proc.logPath)}`);
    }
    try {
      if (await check()) return;
    } catch {
      /* not ready yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: timed out${options.proc ? `\n${logTail(options.proc.logPath)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion; never throws on a non-zero exit (callers assert on `code`). */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; maxBuffer?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 300_000, maxBuffer: options.maxBuffer ?? 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(new Error(`${command}: ${err.message}`));
          return;
        }
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Like run(), but throws with the command line and stderr when it fails. */
export async function runOk(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}

/** An open file of `pid` under `dir` (berthd's monitors started ahead of time have a bare command line, but hold their container's log). */
function holdsFileUnder(pid: number, dir: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target === dir || target.startsWith(dir + '/')) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}

/**
 * PIDs of processes whose command line or working directory mentions `dir`, or that hold a file under it
 * (e.g. containerd shims whose -address lives under a dockerd exec-root).
 * Used after stopping a peer to find and stop anything it left behind.
 */
export function pidsReferencing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        /* kernel thread or gone */
      }
      if (cmdline.includes(dir) || cwd === dir || cwd.startsWith(dir + '/') || holdsFileUnder(pid, dir)) pids.push(pid);
    } catch {
      /* exited while we looked */
    }
  }
  return pids;
}

/** SIGKILL the given PIDs (ours, found by pidsReferencing) and wait until they are gone. */
export async function killPids(pids: number[], timeoutMs = 10_000): Promise<void> {
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; its parent reaps it.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Mount points at or under `dir`, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

/**
 * Last-resort cleanup when the test process exits without running its
 * after() hooks (an uncaught error, process.exit): synchronous, by PID, then
 * unmount and remove the peer's temp dir. A normal stop() unregisters it.
 */
const exitCleanups = new Set<() => void>();
let exitHooked = false;

function runExitCleanups(): void {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      /* best effort: the process is going away */
    }
  }
  exitCleanups.clear();
}

export function onExitCleanup(fn: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', runExitCleanups);
    // A test killed by a timeout (SIGTERM) or ^C gets no 'exit' event: clean up, then die of the same signal.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(signal, () => {
        runExitCleanups();
        process.kill(process.pid, signal);
      });
    }
  }
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Synchronous kill-everything-under-dir for onExitCleanup. */
export function killAndRemoveSync(pid: number | undefined, dir: string): void {
  const pids = [...(pid !== undefined ? [pid] : []), ...pidsReferencing(dir)];
  for (const p of pids) {
    // Never 0 or negative: those address process groups (or every process), not one PID.
    if (!Number.isInteger(p) || p <= 1 || p === process.pid) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const mount of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
