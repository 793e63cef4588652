/**
 * Shared pieces of the runtime integration tests: busybox bundles, the
 * berth-runtime CLI run from source, and cleanup that leaves no container,
 * process or mount behind even when a test fails.
 */
import { spawn, execFileSync } from 'node:child_process';
import type { StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Spec } from '../../../src/oci/runtime-spec.ts';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { makeBusyboxRootfs } from '../../helpers/busybox.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

export const REPO = resolve(fileURLToPath(import.meta.url), '../../../..');
export const NODE = process.execPath;
export const CLI = join(REPO, 'src/runtime/cli/main.ts');

/** Builds native/ once per test process (make is a no-op when up to date). */
export function buildNative(): void {
  execFileSync('make', ['-s', '-C', join(REPO, 'native')], { stdio: 'inherit' });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(root: string, args: string[], opts: { cwd?: string; stdio?: StdioOptions; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI, '--root', root, ...args], {
      cwd: opts.cwd,
      stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    if (child.stdin) child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', rej);
    // A created container keeps the CLI's stdio open (as with runc), so the
    // result is taken at exit, once the CLI's own output has drained.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      let open = [child.stdout, child.stderr].filter((s) => s && !s.readableEnded).length;
      const done = () => res({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr });
      if (open === 0) return done();
      const t = setTimeout(done, 100);
      for (const s of [child.stdout, child.stderr]) {
        s?.on('end', () => {
          if (--open === 0) {
            clearTimeout(t);
            done();
          }
        });
      }
    });
  });
}

export interface Bundle {
  dir: string;
  rootfs: string;
  spec: Spec;
  write(): void;
}

/** A bundle with a busybox rootfs and runc's default config (no terminal). */
export async function makeBundle(parent: string, name = 'bundle'): Promise<Bundle> {
  const dir = join(parent, name);
  const rootfs = join(dir, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  const spec = defaultSpec();
  spec.process!.terminal = false;
  const b: Bundle = {
    dir,
    rootfs,
    spec,
    write: () => writeFileSync(join(dir, 'config.json'), JSON.stringify(b.spec, null, 2)),
  };
  b.write();
  return b;
}

/** A runtime root in a temp dir; cleanup force-deletes whatever a test left. */
export async function makeRuntimeRoot(): Promise<{ root: string; tmp: string; cleanup(): Promise<void> }> {
  const tmp = await makeTempDir('berth-rt-');
  const root = join(tmp, 'state');
  return {
    root,
    tmp,
    async cleanup() {
      if (existsSync(root)) {
        for (const id of readdirSync(root)) await cli(root, ['delete', '--force', id]);
      }
      await removeTempDir(tmp);
    },
  };
}

/** Every live process whose root directory is dir (after pivot_root its path reads "/", so compare inodes). */
export function processesUnder(dir: string): number[] {
  const want = statSync(dir);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const st = statSync(`/proc/${name}/root`);
      if (st.ino !== want.ino || st.dev !== want.dev) continue;
      if (/\) [ZX] /.test(readFileSync(`/proc/${name}/stat`, 'utf8'))) continue;
      out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function shArgs(script: string): string[] {
  return ['sh', '-c', script];
}
