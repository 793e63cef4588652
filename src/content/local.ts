import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import { fsyncDir, writeJsonAtomic } from '../common/atomic-write.ts';
import { MediaTypes, OCI_LAYOUT_VERSION, type ImageIndex, type OciLayoutFile } from '../oci/image-spec.ts';
import { digestHex, parseDigest } from './digest.ts';
import type { BlobInfo, ContentStore, Digest, Expected, IngestWriter } from './types.ts';

/**
 * Content store on an OCI image layout:
 *
 *   <root>/oci-layout, <root>/index.json
 *   <root>/blobs/sha256/<hex>          committed, verified blobs (read-only use)
 *   <ingest>/tmp-<pid>-<rand>          one-shot writes in progress
 *   <ingest>/<sha256(ref)>/{ref,data,lock}   resumable ingests (registry uploads)
 *
 * The only way into blobs/ is rename(2) of a fully written, fsynced and
 * verified file on the same filesystem, so a kill -9 at any moment leaves at
 * worst a partial file in ingest/ — never a partial blob. Two writers of the
 * same blob both verify their own copy; rename replaces one identical file
 * with another atomically, so readers never see a torn or duplicated blob.
 */
export interface LocalContentStoreOptions {
  /** Where partial data lives (default <root>/ingest). Must be on the same filesystem as root. */
  ingestRoot?: string;
}

/** Coalesce small network chunks into fewer, larger write(2) calls. */
const WRITE_BATCH_BYTES = 1 << 20;
const MAX_REF_LENGTH = 1024;

export class LocalContentStore implements ContentStore {
  readonly root: string;
  readonly ingestRoot: string;
  private readonly blobsDir: string;
  /** Refs with an open writer in this process (other processes are excluded by the lock file). */
  private readonly openIngests = new Set<string>();

  private constructor(root: string, options: LocalContentStoreOptions) {
    this.root = root;
    this.ingestRoot = options.ingestRoot ?? join(root, 'ingest');
    this.blobsDir = join(root, 'blobs', 'sha256');
  }

  /** Create the layout if needed and clear one-shot temp files left by dead processes. */
  static async open(root: string, options: LocalContentStoreOptions = {}): Promise<LocalContentStore> {
    const store = new LocalContentStore(root, options);
    await mkdir(store.blobsDir, { recursive: true });
    await mkdir(store.ingestRoot, { recursive: true });
    const layoutPath = join(root, 'oci-layout');
    if (!(await exists(layoutPath))) {
      const layout: OciLayoutFile = { imageLayoutVersion: OCI_LAYOUT_VERSION };
      await writeJsonAtomic(layoutPath, layout);
    }
    const indexPath = join(root, 'index.json');
    if (!(await exists(indexPath))) {
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
      await writeJsonAtomic(indexPath, index);
    }
    await store.removeDeadTempFiles();
    return store;
  }

  blobPath(digest: Digest): string {
    return join(this.blobsDir, digestHex(parseDigest(digest)));
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  read(digest: Digest, range: { start?: number; end?: number } = {}): Readable {
    const path = this.blobPath(digest);
    const { start, end } = range;
    for (const [name, v] of [['start', start], ['end', end]] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
        throw new BerthError('BERTH_CONTENT_INVALID_RANGE', `read of ${digest}: ${name} offset ${v} is not a non-negative integer`, { status: 416 });
      }
    }
    if (start !== undefined && end !== undefined && end < start) {
      throw new BerthError('BERTH_CONTENT_INVALID_RANGE', `read of ${digest}: range end ${end} is before start ${start}`, { status: 416 });
    }
    // Open lazily inside the stream so a missing blob surfaces as a BerthError
    // on the stream, the same way for every caller.
    return Readable.from(
      (async function* () {
        let fh: FileHandle;
        try {
          fh = await open(path, 'r');
        } catch (err) {
          if (isErrno(err, 'ENOENT')) throw notFoundError(digest);
          throw err;
        }
        try {
          yield* fh.createReadStream({ start, end, autoClose: false, highWaterMark: 1 << 20 });
        } finally {
          await fh.close();
        }
      })(),
      { objectMode: false },
    );
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFoundError(digest);
      throw err;
    }
  }

  async write(source: AsyncIterable<Uint8Array> | Readable, expected: Expected = {}): Promise<BlobInfo> {
    const want = checkExpected(expected);
    const tmp = join(this.ingestRoot, `tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    const hash = createHash('sha256');
    let size = 0;
    try {
      const batch = new WriteBatch(fh);
      for await (const raw of source as AsyncIterable<Uint8Array | string>) {
        const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
        size += chunk.length;
        if (want.size !== undefined && size > want.size) {
          throw sizeMismatch(want, size, 'more bytes than expected');
        }
        hash.update(chunk);
        await batch.add(chunk);
      }
      await batch.flush();
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fh.close();
    const digest: Digest = `sha256:${hash.digest('hex')}`;
    try {
      verify(want, digest, size);
      return await this.moveIn(tmp, digest, size);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async writeBytes(bytes: Uint8Array, expected: Expected = {}): Promise<BlobInfo> {
    return this.write(Readable.from([bytes], { objectMode: false }), expected);
  }

  async ingest(ref: string): Promise<IngestWriter> {
    checkRef(ref);
    if (this.openIngests.has(ref)) throw lockedError(ref);
    this.openIngests.add(ref);
    try {
      const dir = this.ingestDir(ref);
      await mkdir(dir, { recursive: true });
      await acquireLock(join(dir, 'lock'), ref);
      try {
        if (!(await exists(join(dir, 'ref')))) await writeFile(join(dir, 'ref'), ref);
        return await LocalIngestWriter.open(this, ref, dir);
      } catch (err) {
        await unlink(join(dir, 'lock')).catch(() => {});
        throw err;
      }
    } catch (err) {
      this.openIngests.delete(ref);
      throw err;
    }
  }

  /** Bytes held for `ref`, or undefined if there is no such ingest (for registry upload status). */
  async ingestOffset(ref: string): Promise<number | undefined> {
    checkRef(ref);
    try {
      return (await stat(join(this.ingestDir(ref), 'data'))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /** Refs of ingests with partial data on disk. */
  async listIngests(): Promise<string[]> {
    const refs: string[] = [];
    for (const name of await readdir(this.ingestRoot)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      try {
        refs.push(await readFile(join(this.ingestRoot, name, 'ref'), 'utf8'));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return refs;
  }

  /**
   * Drop partial ingests nobody holds that were last written before
   * `olderThanMs` ago (abandoned downloads and uploads). Returns their refs.
   */
  async pruneIngests(olderThanMs: number): Promise<string[]> {
    const cutoff = Date.now() - olderThanMs;
    const dropped: string[] = [];
    for (const ref of await this.listIngests()) {
      let mtime: number;
      try {
        mtime = (await stat(join(this.ingestDir(ref), 'data'))).mtimeMs;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        mtime = 0; // a dir without data is left from a crash before the first write
      }
      if (mtime > cutoff) continue;
      try {
        await this.abortIngest(ref);
        dropped.push(ref);
      } catch (err) {
        if (!(err instanceof BerthError && err.code === 'BERTH_CONTENT_INGEST_LOCKED')) throw err;
      }
    }
    return dropped;
  }

  /** Drop an ingest's partial data without opening it (refused while a writer holds it). */
  async abortIngest(ref: string): Promise<void> {
    const writer = await this.ingest(ref);
    await writer.abort();
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFoundError(digest);
      throw err;
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const name of await readdir(this.blobsDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const digest: Digest = `sha256:${name}`;
      const info = await this.info(digest);
      if (info) yield info;
    }
  }

  /**
   * Re-hash every committed blob and report those whose bytes no longer match
   * their name (disk corruption, tampering). Nothing is changed.
   */
  async verify(): Promise<Array<BlobInfo & { actual: Digest }>> {
    const bad: Array<BlobInfo & { actual: Digest }> = [];
    for await (const blob of this.list()) {
      const hash = createHash('sha256');
      for await (const chunk of this.read(blob.digest)) hash.update(chunk as Buffer);
      const actual: Digest = `sha256:${hash.digest('hex')}`;
      if (actual !== blob.digest) bad.push({ ...blob, actual });
    }
    return bad;
  }

  /** @internal Rename a verified, fsynced file into blobs/ (or drop it if the blob is already there). */
  async moveIn(file: string, digest: Digest, size: number): Promise<BlobInfo> {
    const target = this.blobPath(digest);
    const existing = await this.info(digest);
    if (existing) {
      await unlink(file).catch(() => {});
      return existing;
    }
    await rename(file, target);
    await fsyncDir(this.blobsDir);
    return { digest, size };
  }

  /** @internal */
  releaseIngest(ref: string): void {
    this.openIngests.delete(ref);
  }

  private ingestDir(ref: string): string {
    return join(this.ingestRoot, createHash('sha256').update(ref).digest('hex'));
  }

  private async removeDeadTempFiles(): Promise<void> {
    for (const name of await readdir(this.ingestRoot)) {
      const m = /^tmp-(\d+)-[a-f0-9]+$/.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid !== process.pid && !processAlive(pid)) await unlink(join(this.ingestRoot, name)).catch(() => {});
    }
  }
}

/** Open (or create) a content store at `root`. */
export function openContentStore(root: string, options?: LocalContentStoreOptions): Promise<LocalContentStore> {
  return LocalContentStore.open(root, options);
}

class LocalIngestWriter implements IngestWriter {
  readonly ref: string;
  private readonly store: LocalContentStore;
  private readonly dir: string;
  private readonly fh: FileHandle;
  private readonly hash: Hash;
  private bytes: number;
  private done = false;
  /** Writes are applied strictly in call order even if a caller does not await each one. */
  private queue: Promise<void> = Promise.resolve();

  private constructor(store: LocalContentStore, ref: string, dir: string, fh: FileHandle, hash: Hash, bytes: number) {
    this.store = store;
    this.ref = ref;
    this.dir = dir;
    this.fh = fh;
    this.hash = hash;
    this.bytes = bytes;
  }

  static async open(store: LocalContentStore, ref: string, dir: string): Promise<LocalIngestWriter> {
    const fh = await open(join(dir, 'data'), 'a+', 0o644);
    try {
      // Node cannot serialise a hash state, so a resumed ingest re-hashes what it
      // holds (as containerd does); the data file's length is the resume offset.
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of fh.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      return new LocalIngestWriter(store, ref, dir, fh, hash, bytes);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get offset(): number {
    return this.bytes;
  }

  write(chunk: Uint8Array): Promise<void> {
    this.assertOpen();
    const run = this.queue.then(async () => {
      this.assertOpen();
      let written = 0;
      while (written < chunk.length) {
        // 'a' mode: the kernel appends regardless of position.
        const { bytesWritten } = await this.fh.write(chunk, written, chunk.length - written);
        written += bytesWritten;
      }
      this.hash.update(chunk);
      this.bytes += chunk.length;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async commit(expected: Expected): Promise<BlobInfo> {
    const want = checkExpected(expected);
    this.assertOpen();
    await this.queue;
    this.done = true;
    await this.fh.sync();
    await this.fh.close();
    const digest: Digest = `sha256:${this.hash.copy().digest('hex')}`;
    try {
      if (want.size !== undefined && this.bytes !== want.size) {
        throw sizeMismatch(want, this.bytes, this.bytes < want.size ? 'upload is incomplete' : 'more bytes than expected');
      }
      verify(want, digest, this.bytes);
      const info = await this.store.moveIn(join(this.dir, 'data'), digest, this.bytes);
      return info;
    } finally {
      // Committed or refused, this ingest is over: a blob that failed
      // verification cannot become valid by resuming it.
      await rm(this.dir, { recursive: true, force: true });
      this.store.releaseIngest(this.ref);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.queue;
    await this.fh.close().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
    this.store.releaseIngest(this.ref);
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.queue;
    await this.fh.sync().catch(() => {});
    await this.fh.close().catch(() => {});
    await unlink(join(this.dir, 'lock')).catch(() => {});
    this.store.releaseIngest(this.ref);
  }

  private assertOpen(): void {
    if (this.done) {
      throw new BerthError('BERTH_CONTENT_INGEST_CLOSED', `ingest "${this.ref}" is already committed, aborted or closed`, { status: 400 });
    }
  }
}

/** Gathers small chunks and writes them with one writev(2). */
class WriteBatch {
  private readonly fh: FileHandle;
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  constructor(fh: FileHandle) {
    this.fh = fh;
  }

  async add(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    let pending = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    while (pending.length > 0) {
      const { bytesWritten } = await this.fh.writev(pending);
      pending = dropBytes(pending, bytesWritten);
    }
  }
}

function dropBytes(chunks: Uint8Array[], n: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const c of chunks) {
    if (n >= c.length) {
      n -= c.length;
      continue;
    }
    rest.push(n > 0 ? c.subarray(n) : c);
    n = 0;
  }
  return rest;
}

async function acquireLock(lockPath: string, ref: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    // A lock left by a process that died (kill -9) is stale; our own pid here
    // means a writer of this process that was never closed, which the in-memory
    // set would have caught if it were still open.
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) throw lockedError(ref);
    await unlink(lockPath).catch(() => {});
  }
  throw lockedError(ref);
}

function checkRef(ref: string): void {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF_LENGTH || ref.includes('\0')) {
    throw new BerthError('BERTH_CONTENT_INVALID_REF', `ingest ref must be a non-empty string of at most ${MAX_REF_LENGTH} characters without NUL`, { status: 400 });
  }
}

function checkExpected(expected: Expected): Expected {
  const out: Expected = {};
  if (expected.digest !== undefined) out.digest = parseDigest(expected.digest, 'expected digest');
  if (expected.size !== undefined) {
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new BerthError('BERTH_CONTENT_INVALID_SIZE', `expected size ${expected.size} is not a non-negative integer`, { status: 400 });
    }
    out.size = expected.size;
  }
  return out;
}

function verify(want: Expected, digest: Digest, size: number): void {
  if (want.size !== undefined && size !== want.size) {
    throw sizeMismatch(want, size, size < want.size ? 'content is truncated' : 'more bytes than expected');
  }
  if (want.digest !== undefined && digest !== want.digest) {
    throw new BerthError('BERTH_CONTENT_DIGEST_MISMATCH', `digest mismatch: expected ${want.digest}, content hashes to ${digest} (${size} bytes)`, {
      status: 400,
      detail: { expected: want.digest, actual: digest, size },
    });
  }
}

function sizeMismatch(want: Expected, size: number, why: string): BerthError {
  const what = want.digest ? ` of ${want.digest}` : '';
  return new BerthError('BERTH_CONTENT_SIZE_MISMATCH', `size mismatch${what}: expected ${want.size} bytes, got ${size}${size > want.size! ? '+' : ''} (${why})`, {
    status: 400,
    detail: { expected: want.size, actual: size },
  });
}

function notFoundError(digest: Digest): BerthError {
  return new BerthError('BERTH_CONTENT_NOT_FOUND', `blob ${digest} not found in content store`, { status: 404 });
}

function lockedError(ref: string): BerthError {
  return new BerthError('BERTH_CONTENT_INGEST_LOCKED', `ingest "${ref}" is being written by another writer`, { status: 409 });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
