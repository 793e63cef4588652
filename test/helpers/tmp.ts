import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * A temp directory removed after the test. Anything mounted beneath it is
 * unmounted first (lazily, deepest first), so a failing test cannot leave a
 * mount behind.
 */
export async function makeTempDir(prefix = 'berth-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeTempDir(dir: string): Promise<void> {
  unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Unmount every mount point at or under `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  let mountinfo = '';
  try {
    mountinfo = execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' });
  } catch {
    return;
  }
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      execFileSync('umount', ['-l', p], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}

/** `using`-style helper: run fn with a temp dir that is always removed. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>, prefix?: string): Promise<T> {
  const dir = await makeTempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await removeTempDir(dir);
  }
}
