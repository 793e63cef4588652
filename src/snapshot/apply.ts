import { createHash } from 'node:crypto';
import { chmod, constants as fsc, lchown, link, lutimes, mkdir, open, readdir, symlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import type { Digest } from '../content/types.ts';
import { decompressStream, type Compression } from '../archive/compression.ts';
import { readTar, type TarHeader } from '../archive/tar.ts';
import { writeSmallFiles, type SmallFile } from './file-writer.ts';
import {
  OVERLAY_OPAQUE_XATTR, isWhiteoutStat, lstatOrNull, mknodBatch, removePath, writeXattrs,
  type NodeSpec,
} from './fs-util.ts';
import { IS_ROOT, badLayer, chownIfRoot, layerXattrs, restoreDirTimes, unsafe, type PendingLowerChecks } from './unpack-common.ts';
import { finishLayer } from './lower-layers.ts';

export type { PendingLowerChecks } from './unpack-common.ts';
export { finishLayer, mergedLookup } from './lower-layers.ts';

/**
 * Unpack one layer (an OCI changeset tar, possibly compressed) into a
 * directory, with OCI whiteout semantics and without ever writing outside it.
 *
 * Two targets:
 * - whiteouts 'delete': the target is a full tree (the copying snapshotter's
 *   copy of the parent); `.wh.x` deletes x, `.wh..wh..opq` empties the dir of
 *   everything not from this layer.
 * - whiteouts 'overlay': the target is this layer's own empty directory (an
 *   overlay lowerdir/upperdir); `.wh.x` becomes the char device 0/0 overlayfs
 *   reads as a whiteout, and an opaque dir gets trusted.overlay.opaque=y.
 *   Because the directory is independent of the layers below, it can be
 *   unpacked before they are; the checks that need the lower layers (a
 *   parent that is a symlink below, a hardlink to a file below, metadata of
 *   implied parent dirs) are collected and run by finishLayer() once the
 *   lowers are in place.
 *
 * Safety: entry paths are cleaned lexically (`..` that escapes is refused,
 * absolute paths are rebased), and every parent directory is walked one
 * component at a time with lstat: a symlink (or a non-directory) as a parent
 * is refused, never followed. Files are created with O_EXCL, so a symlink
 * at the final component is never followed either.
 */
export type WhiteoutMode = 'overlay' | 'delete';

export interface UnpackOptions {
  /** Existing directory to unpack into. */
  target: string;
  whiteouts: WhiteoutMode;
  /** Layer name for error messages (its digest). */
  layer?: string;
  /** Media type of the blob, for messages; the codec is detected from the bytes. */
  mediaType?: string;
  /** Uncompressed bytes seen so far (progress). */
  onBytes?: (uncompressedBytes: number) => void;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar: the layer's diffID. */
  diffId: Digest;
  /** Uncompressed size in bytes. */
  size: number;
  compression: Compression;
  entries: number;
  /** Work that needs the lower layers (overlay mode); run it with finishLayer(). */
  pending: PendingLowerChecks;
}

/**
 * Clean an entry path lexically: absolute paths are rebased on the target,
 * `.` and empty components dropped, `..` resolved against the components
 * before it; a `..` that would climb above the root is refused.
 * Returns [] for the root itself.
 */
export function cleanEntryPath(name: string, layer: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw unsafe(layer, name, 'climbs out of the layer root with ".."');
      out.pop();
      continue;
    }
    if (part.includes('\0')) throw unsafe(layer, name, 'contains a NUL byte');
    out.push(part);
  }
  return out;
}

/** Files up to this size are written in batches on writer threads (file-writer.ts). */
const SMALL_FILE = 256 * 1024;
const EMPTY = Buffer.alloc(0);
const BATCH_FILES = 256;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches out at once (bounds memory: at most this many × BATCH_BYTES). */
const MAX_INFLIGHT = 4;

/** Unpack a layer stream into options.target. On error the target is left for the caller to discard. */
export async function unpackLayer(source: Readable, options: UnpackOptions): Promise<UnpackResult> {
  const u = new Unpacker(options);
  await u.start();
  const { compression, stream } = await decompressStream(source, options.mediaType ? { mediaType: options.mediaType } : {});
  const hash = createHash('sha256');
  let size = 0;
  const onBytes = options.onBytes;
  const hashed = (async function* () {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (onBytes) onBytes(size);
      yield chunk;
    }
  })();
  let entries = 0;
  try {
    for await (const entry of readTar(hashed)) {
      entries++;
      await u.entry(entry.header, entry.body);
    }
    await u.finish();
  } catch (err) {
    await u.abort();
    stream.destroy();
    source.destroy();
    if (err instanceof BerthError) throw err;
    throw new BerthError('BERTH_SNAPSHOT_UNPACK', `layer ${u.layer}: unpack failed: ${(err as Error).message}`, { cause: err });
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size, compression, entries, pending: u.pending() };
}

class Unpacker {
  readonly layer: string;
  private readonly target: string;
  private readonly mode: WhiteoutMode;
  /** Relative dirs known to be real directories in the target (checked or made by us). */
  private readonly knownDirs = new Set<string>(['']);
  /** Every path this layer created, and all their ancestors ("touched"). */
  private readonly unpacked = new Set<string>();
  private readonly touched = new Set<string>();
  private readonly impliedDirs: string[] = [];
  private readonly lowerLinks: Array<{ path: string; target: string }> = [];
  private readonly dirTimes = new Map<string, number>();
  /** Device nodes, fifos and whiteouts waiting for one batched mknod. */
  private readonly nodes = new Map<string, { spec: NodeSpec; header: TarHeader | null }>();
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown = null;
  /** Small files waiting to go to a writer thread. */
  private batch: SmallFile[] = [];
  private batchBytes = 0;
  /** Dirs this unpack made itself (empty when made): what is in them, it knows without lstat. */
  private readonly freshDirs = new Set<string>();
  /** Every path this unpack has created (entries, whiteouts, implied dirs). */
  private readonly present = new Set<string>();

  constructor(options: UnpackOptions) {
    this.target = options.target;
    this.mode = options.whiteouts;
    this.layer = options.layer ?? options.target;
  }

  /** A target that starts empty (an overlay layer dir the snapshotter just made) needs no lstat for what it does not hold yet. */
  async start(): Promise<void> {
    if ((await readdir(this.target)).length === 0) this.freshDirs.add('');
  }

  /** lstat, skipped when the path cannot exist: its parent is a dir this unpack made and nothing was put there. */
  private async existing(rel: string): Promise<Stats | null> {
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    if (!this.present.has(rel)) {
      if (this.freshDirs.has(parent)) return null;
    } else {
      // made earlier in this layer, maybe still on a writer thread: settle before looking
      await this.barrier();
    }
    return lstatOrNull(this.abs(rel));
  }

  pending(): PendingLowerChecks {
    return { target: this.target, layer: this.layer, impliedDirs: this.impliedDirs, lowerLinks: this.lowerLinks, dirTimes: this.dirTimes };
  }

  private abs(rel: string): string {
    return rel === '' ? this.target : join(this.target, rel);
  }

  private markTouched(rel: string): void {
    this.unpacked.add(rel);
    let p = rel;
    while (p !== '' && !this.touched.has(p)) {
      this.touched.add(p);
      const slash = p.lastIndexOf('/');
      p = slash < 0 ? '' : p.slice(0, slash);
    }
  }

  /** Wait for background writes and make pending nodes: before anything that removes, replaces or links. */
  private async barrier(): Promise<void> {
    this.sendBatch();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    if (this.failure) throw this.failure;
    await this.flushNodes();
  }

  private async flushNodes(): Promise<void> {
    if (this.nodes.size === 0) return;
    const batch = [...this.nodes.values()];
    this.nodes.clear();
    await mknodBatch(batch.map((n) => n.spec));
    for (const { spec, header } of batch) {
      if (header) await this.applyMeta(spec.path, header, false);
      else await lutimes(spec.path, 0, 0).catch(() => {}); // whiteouts: deterministic mtime, irrelevant to overlay
    }
  }

  async abort(): Promise<void> {
    this.batch = [];
    await Promise.allSettled([...this.inflight]);
  }

  private track(task: Promise<void>): void {
    const t = task.catch((err) => { this.failure ??= err; });
    this.inflight.add(t);
    void t.finally(() => this.inflight.delete(t));
  }

  private sendBatch(): void {
    if (this.batch.length === 0) return;
    const files = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    this.track(writeSmallFiles(files));
  }

  /** Walk the parents of `parts` one by one, refusing symlinks and making missing dirs. */
  private async ensureParents(parts: string[], name: string): Promise<void> {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]}`;
      if (this.knownDirs.has(rel)) continue;
      const hadWhiteout = this.takeWhiteout(rel);
      const st = await this.existing(rel);
      if (st === null) {
        await mkdir(this.abs(rel), { mode: 0o755 });
        await chmod(this.abs(rel), 0o755);
        this.impliedDirs.push(rel);
        this.markTouched(rel);
        this.present.add(rel);
        this.freshDirs.add(rel);
        if (hadWhiteout) await this.setOpaque(rel, name);
      } else if (st.isSymbolicLink()) {
        throw unsafe(this.layer, name, `has a parent "${rel}" that is a symlink (a path through a symlink could write outside the snapshot)`);
      } else if (!st.isDirectory()) {
        if (this.mode === 'overlay' && isWhiteoutStat(st)) {
          // a whiteout from earlier in this layer: the dir replaces it
          await this.barrier();
          await removePath(this.abs(rel));
          await mkdir(this.abs(rel), { mode: 0o755 });
          this.impliedDirs.push(rel);
          this.markTouched(rel);
          this.present.add(rel);
          this.freshDirs.add(rel);
          await this.setOpaque(rel, name);
        } else {
          throw badLayer(this.layer, name, `has a parent "${rel}" that is not a directory`);
        }
      }
      this.knownDirs.add(rel);
    }
  }

  /** Forget a whiteout this layer made at rel (an entry takes the path); true if there was one. */
  private takeWhiteout(rel: string): boolean {
    const node = this.nodes.get(rel);
    this.nodes.delete(rel);
    return this.mode === 'overlay' && node !== undefined && node.header === null;
  }

  private async setOpaque(rel: string, name: string): Promise<void> {
    if (this.mode !== 'overlay') return;
    await writeXattrs(this.abs(rel), new Map([[OVERLAY_OPAQUE_XATTR, Buffer.from('y')]]), `layer ${this.layer}: entry "${name}"`);
  }

  /** Remove whatever is at rel (not following symlinks) so an entry can take its place. */
  private async clear(rel: string, st: Stats): Promise<void> {
    await this.barrier();
    await removePath(this.abs(rel));
    this.present.delete(rel);
    if (st.isDirectory()) {
      for (const set of [this.knownDirs, this.freshDirs, this.present]) {
        for (const d of [...set]) if (d === rel || d.startsWith(rel + '/')) set.delete(d);
      }
    }
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    if (this.failure) throw this.failure;
    const parts = cleanEntryPath(h.name, this.layer);
    const base = parts[parts.length - 1] ?? '';

    if (base.startsWith('.wh.')) {
      await this.whiteout(parts, h.name);
      return;
    }
    if (parts.length === 0) {
      if (h.type !== 'dir') throw badLayer(this.layer, h.name, 'names the layer root but is not a directory');
      await this.applyMeta(this.target, h, true);
      this.dirTimes.set('', h.mtime);
      return;
    }
    await this.ensureParents(parts, h.name);
    const rel = parts.join('/');
    const path = this.abs(rel);
    let hadWhiteout = this.takeWhiteout(rel);
    const existing = await this.existing(rel);
    if (existing && this.mode === 'overlay' && isWhiteoutStat(existing)) hadWhiteout = true;
    if (existing && !(existing.isDirectory() && h.type === 'dir')) await this.clear(rel, existing);
    this.markTouched(rel);
    this.present.add(rel);

    switch (h.type) {
      case 'dir':
        if (!existing || !existing.isDirectory()) {
          await mkdir(path, { mode: 0o700 });
          this.freshDirs.add(rel);
        }
        this.knownDirs.add(rel);
        await this.applyMeta(path, h, true);
        this.dirTimes.set(rel, h.mtime);
        // a dir where this layer whited out the lower one: the lower's children stay hidden
        if (hadWhiteout) await this.setOpaque(rel, h.name);
        return;
      case 'file':
        await this.file(path, h, body);
        return;
      case 'symlink':
        if (h.xattrs.size === 0) {
          await this.queue({ path, data: EMPTY, symlink: h.linkname, mode: 0o777, uid: h.uid, gid: h.gid, mtime: h.mtime, chown: IS_ROOT });
          return;
        }
        await symlink(h.linkname, path);
        await this.applyMeta(path, h, false);
        return;
      case 'link':
        await this.hardlink(rel, h);
        return;
      case 'char':
      case 'block':
      case 'fifo':
        this.nodes.set(rel, { spec: { path, kind: h.type, major: h.devmajor, minor: h.devminor }, header: h });
        return;
    }
  }

  private async file(path: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    if (h.size <= SMALL_FILE && h.xattrs.size === 0) {
      // Small files: read the body now and hand it to a writer thread in a batch; parsing goes on.
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c);
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      await this.queue({ path, data, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, chown: IS_ROOT });
      return;
    }
    await this.writeFile(path, h, body);
  }

  private async queue(item: SmallFile): Promise<void> {
    if (this.failure) throw this.failure;
    this.batch.push(item);
    this.batchBytes += item.data.length;
    if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) {
      while (this.inflight.size >= MAX_INFLIGHT) await Promise.race(this.inflight);
      if (this.failure) throw this.failure;
      this.sendBatch();
    }
  }

  private async writeFile(path: string, h: TarHeader, body: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    // O_EXCL: never follows a symlink planted at the final component.
    const fh = await open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      let pos = 0;
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, pos);
          off += bytesWritten;
          pos += bytesWritten;
        }
      }
      await chownIfRoot(() => fh.chown(h.uid, h.gid));
      await fh.chmod(h.mode);
      if (h.xattrs.size > 0) await writeXattrs(path, layerXattrs(h.xattrs), `layer ${this.layer}: entry "${h.name}"`);
      await fh.utimes(h.mtime, h.mtime);
    } finally {
      await fh.close();
    }
  }

  private async hardlink(rel: string, h: TarHeader): Promise<void> {
    const targetParts = cleanEntryPath(h.linkname, this.layer);
    if (targetParts.length === 0) throw unsafe(this.layer, h.name, `is a hardlink to the layer root "${h.linkname}"`);
    const targetRel = targetParts.join('/');
    await this.barrier();
    // The link target's parents must be real directories inside the tree too.
    let parent = '';
    for (let i = 0; i < targetParts.length - 1; i++) {
      parent = parent === '' ? targetParts[i]! : `${parent}/${targetParts[i]}`;
      const st = await lstatOrNull(this.abs(parent));
      if (st?.isSymbolicLink()) throw unsafe(this.layer, h.name, `is a hardlink through a symlink "${parent}" (target "${h.linkname}")`);
      if (st === null || !st.isDirectory()) {
        if (this.mode === 'overlay') { this.lowerLinks.push({ path: rel, target: targetRel }); return; }
        throw badLayer(this.layer, h.name, `is a hardlink to "${h.linkname}", which does not exist`);
      }
    }
    const st = await lstatOrNull(this.abs(targetRel));
    if (st === null || (this.mode === 'overlay' && isWhiteoutStat(st))) {
      if (this.mode === 'overlay') { this.lowerLinks.push({ path: rel, target: targetRel }); return; }
      throw badLayer(this.layer, h.name, `is a hardlink to "${h.linkname}", which does not exist`);
    }
    if (st.isDirectory()) throw badLayer(this.layer, h.name, `is a hardlink to a directory "${h.linkname}"`);
    await link(this.abs(targetRel), this.abs(rel));
    this.present.add(rel);
  }

  private async whiteout(parts: string[], name: string): Promise<void> {
    const base = parts[parts.length - 1]!;
    const dirParts = parts.slice(0, -1);
    const dirRel = dirParts.join('/');
    if (base === '.wh..wh..opq') {
      await this.ensureParents([...dirParts, base], name);
      if (this.mode === 'overlay') {
        if (dirRel === '') throw badLayer(this.layer, name, 'marks the layer root opaque');
        await writeXattrs(this.abs(dirRel), new Map([[OVERLAY_OPAQUE_XATTR, Buffer.from('y')]]), `layer ${this.layer}: entry "${name}"`);
      } else {
        await this.barrier();
        await this.emptyExceptUnpacked(dirRel);
      }
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs metadata (.wh..wh.plnk etc.): not part of the filesystem
    const victim = base.slice('.wh.'.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.includes('/')) {
      throw unsafe(this.layer, name, 'is a whiteout for an invalid name');
    }
    await this.ensureParents(parts, name);
    const rel = dirRel === '' ? victim : `${dirRel}/${victim}`;
    // A whiteout hides lower layers only; what this layer itself put there stays
    // (a dir of this layer keeps its own children and loses the lower ones).
    if (this.unpacked.has(rel)) {
      await this.barrier();
      const st = await lstatOrNull(this.abs(rel));
      if (st?.isDirectory()) {
        if (this.mode === 'overlay') await this.setOpaque(rel, name);
        else await this.emptyExceptUnpacked(rel);
      }
      return;
    }
    const st = await this.existing(rel);
    if (st) await this.clear(rel, st);
    if (this.mode === 'overlay') {
      this.nodes.set(rel, { spec: { path: this.abs(rel), kind: 'char', major: 0, minor: 0 }, header: null });
      this.present.add(rel);
    }
  }

  /** Opaque dir in a full tree: remove every child not from this layer (recursing into dirs that hold this layer's entries). */
  private async emptyExceptUnpacked(dirRel: string): Promise<void> {
    const names = await readdir(this.abs(dirRel)).catch(() => [] as string[]);
    for (const n of names) {
      const rel = dirRel === '' ? n : `${dirRel}/${n}`;
      if (!this.touched.has(rel)) {
        const st = await lstatOrNull(this.abs(rel));
        if (st) await this.clear(rel, st);
        continue;
      }
      const st = await lstatOrNull(this.abs(rel));
      if (st?.isDirectory()) await this.emptyExceptUnpacked(rel);
    }
  }

  private async applyMeta(path: string, h: TarHeader, isDir: boolean): Promise<void> {
    await chownIfRoot(() => lchown(path, h.uid, h.gid));
    if (h.type !== 'symlink') await chmod(path, h.mode);
    if (h.xattrs.size > 0) await writeXattrs(path, layerXattrs(h.xattrs), `layer ${this.layer}: entry "${h.name}"`);
    if (!isDir) await lutimes(path, h.mtime, h.mtime);
  }

  /** Everything written, then directory mtimes deepest first (writing into a dir changes its mtime). */
  async finish(): Promise<void> {
    await this.barrier();
    await restoreDirTimes(this.target, this.dirTimes);
  }
}

/** Unpack and finish in one go, for when the lower layers are already complete. */
export async function applyLayer(source: Readable, options: UnpackOptions & { lowers?: string[] }): Promise<UnpackResult> {
  const result = await unpackLayer(source, options);
  if (options.whiteouts === 'overlay') await finishLayer(result.pending, options.lowers ?? []);
  return result;
}
