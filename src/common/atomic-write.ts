import { open, rename, mkdir, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  mode?: number;
  /**
   * fsync the file and its directory (default true), so the new content
   * survives power loss. Without it the write is still atomic for readers
   * and across kill -9 (temp file + rename); hot paths whose state is
   * rebuilt anyway after a reboot (a container's running state) skip the
   * two flushes, which cost several milliseconds each.
   */
  durable?: boolean;
}

/**
 * Write a file so that readers see either the old content or the new one,
 * never a torn write, even across kill -9 or power loss: temp file in the same
 * directory, fsync, rename, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, modeOrOptions: number | AtomicWriteOptions = 0o644): Promise<void> {
  const opts = typeof modeOrOptions === 'number' ? { mode: modeOrOptions } : modeOrOptions;
  const mode = opts.mode ?? 0o644;
  const durable = opts.durable ?? true;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (durable) await fsyncDir(dir);
}

export async function writeJsonAtomic(path: string, value: unknown, modeOrOptions: number | AtomicWriteOptions = 0o644): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', modeOrOptions);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
