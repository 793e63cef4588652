import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import type { ContentStore, Digest } from '../content/types.ts';
import type { Descriptor } from '../oci/image-spec.ts';
import { createCompressor, layerMediaType, type Compression } from '../archive/compression.ts';
import { writeTar, type TarEntryType, type TarWriteEntry } from '../archive/tar.ts';
import { isOpaqueDir, isWhiteoutStat, lstatOrNull, readXattrs } from './fs-util.ts';
import { mergedLookup } from './lower-layers.ts';
import type { SnapshotDirs } from './types.ts';

/**
 * The reverse of unpack: the changes of a snapshot against its parent, as a
 * list (docker diff's A/C/D) and as an OCI layer tar.
 *
 * - overlay: the upper dir *is* the change set. A 0/0 char device becomes
 *   `.wh.<name>`, an opaque dir (trusted.overlay.opaque=y) gets
 *   `.wh..wh..opq`, everything else is an entry with its full metadata.
 * - copy: the tree is compared with the parent's tree (type, mode, owner,
 *   size, mtime, link target, device number, xattrs; directories by
 *   metadata, not mtime, as Docker does). Deleted paths become whiteouts.
 *
 * Entries come in a fixed order (directory, its opaque marker, then its
 * children by name), with mtimes truncated to seconds like Docker, so the
 * same change set always gives the same bytes and the same digest.
 */
export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Absolute path inside the container, as `docker diff` prints it. */
  path: string;
}

interface DiffItem {
  rel: string;
  kind: ChangeKind;
  /** Where the new file is (absent for deletions). */
  abs?: string;
  stat?: Stats;
  /** Overlay opaque dir: everything below it from lower layers is hidden. */
  opaque?: boolean;
  /** A deletion implied by an opaque dir (listed in changes(), carried by the opaque marker in the tar). */
  implied?: boolean;
}

function childRel(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort(byName);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

// ---------------------------------------------------------------------------
// overlay: walk the upper dir
// ---------------------------------------------------------------------------

async function overlayItems(upper: string, lowers: string[], withKinds: boolean, rel = '', out: DiffItem[] = []): Promise<DiffItem[]> {
  const here = await names(join(upper, rel));
  for (const name of here) {
    const r = childRel(rel, name);
    const abs = join(upper, r);
    const st = (await lstatOrNull(abs))!;
    if (!st) continue;
    if (isWhiteoutStat(st)) {
      out.push({ rel: r, kind: 'D' });
      continue;
    }
    const xattrs = await readXattrs(abs);
    if (xattrs.has('trusted.overlay.redirect') || xattrs.has('trusted.overlay.metacopy')) {
      throw new BerthError('BERTH_SNAPSHOT_DIFF_UNSUPPORTED', `${abs} uses overlayfs redirect/metacopy, which berth does not mount with; cannot compute its diff`);
    }
    let kind: ChangeKind = 'A';
    if (withKinds && lowers.length > 0) kind = (await mergedLookup(lowers, r)).kind === 'entry' ? 'C' : 'A';
    if (st.isDirectory()) {
      const opaque = await isOpaqueDir(abs);
      out.push({ rel: r, kind, abs, stat: st, opaque });
      if (opaque && withKinds && kind === 'C') {
        const mine = new Set(await names(abs));
        for (const lowerName of await lowerChildren(lowers, r)) {
          if (!mine.has(lowerName)) out.push({ rel: childRel(r, lowerName), kind: 'D', implied: true });
        }
      }
      await overlayItems(upper, lowers, withKinds, r, out);
    } else {
      out.push({ rel: r, kind, abs, stat: st });
    }
  }
  return out;
}

/** Names visible in the merged lower layers under dir `rel`. */
async function lowerChildren(lowers: string[], rel: string): Promise<string[]> {
  const seen = new Map<string, boolean>(); // name → visible
  for (const lower of lowers) {
    const st = await lstatOrNull(join(lower, rel));
    if (!st) continue;
    if (!st.isDirectory()) break;
    for (const n of await names(join(lower, rel))) {
      if (seen.has(n)) continue;
      const cst = await lstatOrNull(join(lower, rel, n));
      seen.set(n, !!cst && !isWhiteoutStat(cst));
    }
    if (await isOpaqueDir(join(lower, rel))) break;
  }
  return [...seen].filter(([, v]) => v).map(([n]) => n).sort(byName);
}

// ---------------------------------------------------------------------------
// copy: compare two trees
// ---------------------------------------------------------------------------

function sameType(a: Stats, b: Stats): boolean {
  return (a.mode & 0o170000) === (b.mode & 0o170000);
}

function sameXattrs(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false;
  return true;
}

async function metaChanged(oldPath: string, o: Stats, newPath: string, n: Stats): Promise<boolean> {
  if ((o.mode & 0o7777) !== (n.mode & 0o7777) || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if (!n.isDirectory()) {
    if (o.size !== n.size || o.mtimeMs !== n.mtimeMs) return true;
  }
  if (n.isSymbolicLink() && (await readlink(oldPath)) !== (await readlink(newPath))) return true;
  return !sameXattrs(await readXattrs(oldPath), await readXattrs(newPath));
}

async function addedSubtree(root: string, rel: string, out: DiffItem[]): Promise<void> {
  for (const name of await names(join(root, rel))) {
    const r = childRel(rel, name);
    const st = await lstatOrNull(join(root, r));
    if (!st) continue;
    out.push({ rel: r, kind: 'A', abs: join(root, r), stat: st });
    if (st.isDirectory()) await addedSubtree(root, r, out);
  }
}

async function treeItems(oldRoot: string | undefined, newRoot: string, rel = ''): Promise<DiffItem[]> {
  const out: DiffItem[] = [];
  const newNames = await names(join(newRoot, rel));
  const oldNames = oldRoot ? await names(join(oldRoot, rel)) : [];
  const all = [...new Set([...newNames, ...oldNames])].sort(byName);
  for (const name of all) {
    const r = childRel(rel, name);
    const n = await lstatOrNull(join(newRoot, r));
    const o = oldRoot ? await lstatOrNull(join(oldRoot, r)) : null;
    if (!n) {
      if (o) out.push({ rel: r, kind: 'D' });
      continue;
    }
    const item: DiffItem = { rel: r, kind: 'A', abs: join(newRoot, r), stat: n };
    if (!o || !sameType(o, n)) {
      if (o) item.kind = 'C';
      out.push(item);
      if (n.isDirectory()) await addedSubtree(newRoot, r, out);
      continue;
    }
    if (n.isDirectory()) {
      const below = await treeItems(oldRoot, newRoot, r);
      if (below.length > 0 || (await metaChanged(join(oldRoot!, r), o, join(newRoot, r), n))) {
        item.kind = 'C';
        out.push(item, ...below);
      }
      continue;
    }
    if (await metaChanged(join(oldRoot!, r), o, join(newRoot, r), n)) {
      item.kind = 'C';
      out.push(item);
    }
  }
  return out;
}

async function diffItems(dirs: SnapshotDirs, withKinds: boolean): Promise<DiffItem[]> {
  if (dirs.whiteouts === 'overlay') return overlayItems(dirs.dir, dirs.lowers, withKinds);
  return treeItems(dirs.parentTree, dirs.dir);
}

/**
 * Bytes of a snapshot's own changes, as dockerd reports a container's SizeRw:
 * the apparent sizes of what the overlay upper dir holds (dockerd's
 * directory.Size) or of what a copy changed, directories not counted and a
 * hard-linked file once; a fresh container's is 0.
 */
export async function changesSize(dirs: SnapshotDirs): Promise<number> {
  const seen = new Set<string>();
  let size = 0;
  const count = (st: Stats) => {
    if (st.isDirectory() || st.size === 0) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    size += st.size;
  };
  if (dirs.whiteouts !== 'overlay') {
    for (const item of await treeItems(dirs.parentTree, dirs.dir)) if (item.stat) count(item.stat);
    return size;
  }
  const walk = async (rel: string): Promise<void> => {
    for (const name of await names(join(dirs.dir, rel))) {
      const st = await lstatOrNull(join(dirs.dir, rel, name));
      if (!st) continue;
      count(st);
      if (st.isDirectory()) await walk(childRel(rel, name));
    }
  };
  await walk('');
  return size;
}

/** The change list, as `docker diff` shows it (A added, C changed, D deleted), in path order. */
export async function changes(dirs: SnapshotDirs): Promise<Change[]> {
  return (await diffItems(dirs, true)).map((i) => ({ kind: i.kind, path: `/${i.rel}` }));
}

// ---------------------------------------------------------------------------
// tar
// ---------------------------------------------------------------------------

function entryType(st: Stats): TarEntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not part of images
}

function marker(name: string): TarWriteEntry {
  return { header: { name, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0 } };
}

async function* tarEntries(items: DiffItem[]): AsyncGenerator<TarWriteEntry> {
  const linked = new Map<string, string>(); // dev:ino → first path in this tar
  for (const item of items) {
    if (item.implied) continue;
    const slash = item.rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : item.rel.slice(0, slash + 1);
    const base = item.rel.slice(slash + 1);
    if (item.kind === 'D') {
      yield marker(`${parent}.wh.${base}`);
      continue;
    }
    const st = item.stat!;
    const abs = item.abs!;
    const type = entryType(st);
    if (type === null) continue;
    const xattrs = await readXattrs(abs);
    for (const k of [...xattrs.keys()]) if (k.startsWith('trusted.overlay.')) xattrs.delete(k);
    const header: TarWriteEntry['header'] = {
      name: type === 'dir' ? `${item.rel}/` : item.rel,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === 'file' ? st.size : 0,
      mtime: Math.floor(st.mtimeMs / 1000),
      linkname: type === 'symlink' ? await readlink(abs) : '',
      devmajor: type === 'char' || type === 'block' ? devMajor(st.rdev) : 0,
      devminor: type === 'char' || type === 'block' ? devMinor(st.rdev) : 0,
      xattrs,
    };
    if (type !== 'dir' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = linked.get(key);
      if (first !== undefined) {
        yield { header: { ...header, type: 'link', linkname: first, size: 0 } };
        continue;
      }
      linked.set(key, item.rel);
    }
    yield {
      header,
      ...(type === 'file' && st.size > 0 ? { body: () => createReadStream(abs, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer> } : {}),
    };
    if (type === 'dir' && item.opaque) yield marker(`${item.rel}/.wh..wh..opq`);
  }
}

function devMajor(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

export interface DiffOptions {
  /** Default 'gzip', as Docker writes layers. */
  compression?: Compression;
}

export interface DiffStream {
  /** The layer bytes (compressed as asked). */
  stream: Readable;
  /** sha256 of the uncompressed tar, once the stream has ended. */
  diffId: Promise<Digest>;
  compression: Compression;
  mediaType: string;
}

/** The layer tar of a snapshot's changes, streamed. */
export function diffLayer(dirs: SnapshotDirs, options: DiffOptions = {}): DiffStream {
  const compression = options.compression ?? 'gzip';
  const hash = createHash('sha256');
  let resolveId!: (d: Digest) => void;
  let rejectId!: (err: unknown) => void;
  const diffId = new Promise<Digest>((res, rej) => { resolveId = res; rejectId = rej; });
  diffId.catch(() => {});
  const tar = Readable.from((async function* () {
    const items = await diffItems(dirs, false);
    for await (const chunk of writeTar(tarEntries(items))) {
      hash.update(chunk);
      yield chunk;
    }
    resolveId(`sha256:${hash.digest('hex')}`);
  })(), { objectMode: false, highWaterMark: 256 * 1024 });
  tar.on('error', rejectId);
  let stream: Readable = tar;
  if (compression !== 'none') {
    const z = createCompressor(compression);
    tar.on('error', (err) => z.destroy(err));
    stream = tar.pipe(z);
  }
  return { stream, diffId, compression, mediaType: layerMediaType(compression) };
}

export interface StoredLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

/** Compute a snapshot's layer and put it into the content store (for commit and build). */
export async function writeDiffLayer(dirs: SnapshotDirs, store: ContentStore, options: DiffOptions = {}): Promise<StoredLayer> {
  const d = diffLayer(dirs, options);
  const info = await store.write(d.stream);
  return { descriptor: { mediaType: d.mediaType, digest: info.digest, size: info.size }, diffId: await d.diffId };
}
