import tar from 'tar-stream';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** One parsed tar entry (read with tar-stream, an implementation independent of berth's writer). */
export interface ParsedEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string | null;
  devmajor: number;
  devminor: number;
  body: Buffer;
}

export async function readTarEntries(stream: NodeJS.ReadableStream | Buffer): Promise<ParsedEntry[]> {
  const extract = tar.extract();
  const out: ParsedEntry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => { chunks.push(c as Buffer); });
      body.on('end', () => {
        out.push({
          name: h.name,
          type: h.type ?? 'file',
          mode: h.mode ?? 0,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          size: h.size ?? 0,
          mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
          linkname: h.linkname ?? null,
          devmajor: h.devmajor ?? 0,
          devminor: h.devminor ?? 0,
          body: Buffer.concat(chunks),
        });
        next();
      });
      body.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const src = (Buffer.isBuffer(stream) ? Readable.from([stream]) : stream) as Readable;
  // a failing source must fail the read, not crash the process
  src.on('error', (err) => extract.destroy(err));
  src.pipe(extract);
  await done;
  return out;
}

// Tar fixtures are built the same way everywhere (tar-stream, hostile names allowed).
export { makeTar, T0, type FixtureEntry } from '../snapshot/fixtures.ts';

/** A canonical listing of a tree: type, mode, owner, size, mtime, link target / rdev / content hash, and hardlink groups. */
export async function describeTree(root: string, skipContents: string[] = []): Promise<string[]> {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  async function walk(rel: string): Promise<void> {
    for (const n of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = await lstat(p);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'p';
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      else if (st.isFile()) extra = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
      else if (!st.isDirectory()) extra = `rdev=${st.rdev}`;
      if (!st.isDirectory() && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first) extra += ` =hardlink(${first})`;
        else inodes.set(st.ino, r);
      }
      const mtime = st.isSymbolicLink() ? '' : ` t=${Math.floor(st.mtimeMs / 1000)}`;
      out.push(`${kind} ${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${st.isFile() ? ` ${st.size}` : ''}${mtime} ${extra}`.trim());
      if (st.isDirectory() && !skipContents.includes(r)) await walk(r);
    }
  }
  await walk('');
  return out;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
