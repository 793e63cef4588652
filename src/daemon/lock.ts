/**
 * One berthd per data root: `<root>/run/berthd.lock` is created exclusively and
 * holds the owner's pid. A lock whose pid is gone (kill -9, crash) is stale and
 * taken over; a live owner makes the second daemon exit with a clear error.
 */
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/atomic-write.ts';

export interface DaemonLock {
  lockPath: string;
  pidPath: string;
  release(): Promise<void>;
}

export function runDir(dataRoot: string): string {
  return join(dataRoot, 'run');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireDaemonLock(dataRoot: string): Promise<DaemonLock> {
  const dir = runDir(dataRoot);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lockPath = join(dir, 'berthd.lock');
  const pidPath = join(dir, 'berthd.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      await writeFileAtomic(pidPath, `${process.pid}\n`);
      return {
        lockPath,
        pidPath,
        async release() {
          await unlink(pidPath).catch(() => {});
          await unlink(lockPath).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (owner > 0 && owner !== process.pid && alive(owner)) {
        throw new BerthError(
          'BERTH_DAEMON_LOCKED',
          `another berthd (pid ${owner}) is already running on data root ${dataRoot} (lock ${lockPath})`,
          { status: 409 },
        );
      }
      // Stale: its owner is gone. Remove and retry once.
      await unlink(lockPath).catch(() => {});
    }
  }
  throw new BerthError('BERTH_DAEMON_LOCKED', `could not take the lock ${lockPath}: another berthd is starting`, { status: 409 });
}
