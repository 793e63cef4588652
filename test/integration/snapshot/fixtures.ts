import tar from 'tar-stream';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { readdir, lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readXattrs } from '../../../src/snapshot/fs-util.ts';

/** One tar entry as tar-stream takes it, plus its body for files. */
export interface FixtureEntry {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'character-device' | 'block-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export const T0 = new Date('2024-01-02T03:04:05Z');

/** Build a tar in memory with tar-stream (an implementation independent of berth's reader), malicious names allowed. */
export async function makeTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? T0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    } as tar.Header;
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') pack.entry(header, e.body ?? '', (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}

export function gz(buf: Buffer): Buffer {
  return gzipSync(buf);
}

/**
 * A canonical listing of a tree for comparing two trees: every path with
 * type, mode, owner, size, mtime (s), link target, rdev, xattrs, and a
 * content hash for files.
 */
export async function describeTree(root: string, options: { mtimes?: boolean } = {}): Promise<string[]> {
  const out: string[] = [];
  const { readFile } = await import('node:fs/promises');
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = await lstat(p);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'p';
      const x = [...(await readXattrs(p))].map(([k, v]) => `${k}=${v.toString('hex')}`).join(',');
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      else if (st.isFile()) extra = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
      else if (!st.isDirectory()) extra = `rdev=${st.rdev}`;
      const mtime = options.mtimes === false || st.isSymbolicLink() ? '' : ` t=${Math.floor(st.mtimeMs / 1000)}`;
      out.push(`${kind} ${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${st.isFile() ? ` ${st.size}` : ''}${mtime} ${extra} ${x}`.trim());
      if (st.isDirectory()) await walk(r);
    }
  }
  await walk('');
  return out;
}
