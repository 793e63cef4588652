/**
 * One process owns a registry root at a time (the server caches tags and
 * manifest records, and garbage collection must not race uploads). The owner
 * holds <root>/registry.lock containing its pid; a lock whose pid is dead
 * (kill -9) is taken over.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';

export interface RootLock {
  release(): Promise<void>;
}

export async function lockRegistryRoot(root: string, purpose: string): Promise<RootLock> {
  try {
    await mkdir(root, { recursive: true });
  } catch (err) {
    throw new BerthError('BERTH_REGISTRY_ROOT_INVALID', `cannot ${purpose}: registry root ${root} is not a usable directory (${(err as Error).message})`, { status: 400, cause: err });
  }
  const path = join(root, 'registry.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new BerthError('BERTH_REGISTRY_ROOT_BUSY', `cannot ${purpose}: registry root ${root} is in use by process ${holder} (${path})`, { status: 409 });
    }
    await unlink(path).catch(() => {});
  }
  throw new BerthError('BERTH_REGISTRY_ROOT_BUSY', `cannot ${purpose}: could not take ${path}`, { status: 409 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
