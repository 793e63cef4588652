/**
 * A berth registry on 127.0.0.1 (a free port) for e2e tests, started as the
 * real `berth registry serve` command and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { NODE, CLI_MAIN } from '../../helpers/daemon.ts';

export interface TestRegistry {
  addr: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startBerthRegistry(): Promise<TestRegistry> {
  const dir = await makeTempDir('berth-e2e-registry-');
  const child: ChildProcess = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI_MAIN, 'registry', 'serve', '--addr', '127.0.0.1:0', '--root', join(dir, 'data')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    await removeTempDir(dir);
  };
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/([\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`registry exited: ${out}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { addr, pid: child.pid!, stop };
}
