/**
 * Blob upload sessions (POST/PATCH/PUT/GET/DELETE on /blobs/uploads/<uuid>)
 * over the content store's resumable ingest. The bytes live in the store's
 * ingest area under ref "registry-upload-<uuid>"; the session record lives in
 * the repository's _uploads/. Nothing becomes a blob until the final PUT
 * verifies the digest.
 *
 * Open writers are kept between requests: reopening an ingest re-hashes what
 * it holds (Node cannot persist a hash state), so closing after every PATCH
 * would make a chunked upload quadratic. An idle writer is closed after a
 * while (its data stays on disk and a later request resumes it), and
 * requests on one session run one at a time.
 */
import { randomUUID } from 'node:crypto';
import type { BlobInfo, ContentStore, Digest, IngestWriter } from '../content/types.ts';
import { isBerthError } from '../common/errors.ts';
import { registryError } from './errors.ts';
import type { RepositoryMetadata } from './repositories.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IDLE_CLOSE_MS = 60_000;
/** Open writers (one file descriptor each) kept at most; idle ones are closed first. */
export const MAX_OPEN_WRITERS = 256;

interface OpenWriter {
  writer: IngestWriter;
  timer?: NodeJS.Timeout;
}

export interface ChunkRange {
  start: number;
  /** Inclusive end, when the client gave one. */
  end?: number;
}

export class UploadSessions {
  private readonly store: ContentStore;
  private readonly meta: RepositoryMetadata;
  private readonly writers = new Map<string, OpenWriter>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Writers being closed by eviction; a new request on that session waits for the close. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly maxOpen: number;
  private opening = 0;

  constructor(store: ContentStore, meta: RepositoryMetadata, maxOpen = MAX_OPEN_WRITERS) {
    this.store = store;
    this.meta = meta;
    this.maxOpen = maxOpen;
  }

  static ingestRef(uuid: string): string {
    return `registry-upload-${uuid}`;
  }

  async start(name: string): Promise<string> {
    const uuid = randomUUID();
    await this.meta.createUpload({ uuid, repository: name, startedAt: new Date().toISOString() });
    return uuid;
  }

  /** Bytes received so far. */
  async offset(name: string, uuid: string): Promise<number> {
    return this.locked(uuid, async () => (await this.writer(name, uuid)).offset);
  }

  /**
   * Append a chunk. With a range, the chunk must start where the upload
   * stands (416 otherwise, before any byte is taken). Returns the new offset.
   */
  async append(name: string, uuid: string, body: AsyncIterable<Uint8Array>, range?: ChunkRange, length?: number): Promise<number> {
    return this.locked(uuid, async () => {
      const writer = await this.writer(name, uuid);
      if (range) checkRange(writer.offset, range, length);
      const before = writer.offset;
      await pump(body, writer);
      const received = writer.offset - before;
      if (length !== undefined && received !== length) {
        throw registryError('SIZE_INVALID', `chunk for upload ${uuid} declared ${length} bytes (Content-Length) but ${received} arrived`, { declared: length, received });
      }
      return writer.offset;
    });
  }

  /** Take an optional last chunk, verify the whole blob against `digest`, commit it. */
  async finish(name: string, uuid: string, digest: Digest, body: AsyncIterable<Uint8Array> | undefined, range?: ChunkRange, length?: number): Promise<BlobInfo> {
    return this.locked(uuid, async () => {
      const writer = await this.writer(name, uuid);
      if (range) checkRange(writer.offset, range, length);
      if (body) {
        const before = writer.offset;
        await pump(body, writer);
        const received = writer.offset - before;
        if (length !== undefined && received !== length) {
          throw registryError('SIZE_INVALID', `last chunk for upload ${uuid} declared ${length} bytes (Content-Length) but ${received} arrived`, { declared: length, received });
        }
      }
      this.forget(uuid);
      try {
        // commit() ends the ingest whatever happens: a blob that failed
        // verification cannot become right by resuming, so the session ends too.
        return await writer.commit({ digest });
      } catch (err) {
        if (isBerthError(err, 'BERTH_CONTENT_DIGEST_MISMATCH')) {
          throw registryError('DIGEST_INVALID', `upload ${uuid}: ${(err as Error).message}; nothing was stored`, (err as { detail?: unknown }).detail);
        }
        throw err;
      } finally {
        await this.meta.deleteUpload(name, uuid);
      }
    });
  }

  async cancel(name: string, uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const writer = await this.writer(name, uuid);
      this.forget(uuid);
      await writer.abort();
      await this.meta.deleteUpload(name, uuid);
    });
  }

  /** Open writers, and sessions with a request under way (for monitoring and tests). */
  stats(): { open: number; busy: number } {
    return { open: this.writers.size + this.opening, busy: this.locks.size };
  }

  /** Whether this session's writer is open now (for monitoring and tests). */
  hasOpenWriter(uuid: string): boolean {
    return this.writers.has(uuid);
  }

  /** Release every open writer; partial data stays for a later resume. */
  async closeAll(): Promise<void> {
    const open = [...this.writers.values()];
    this.writers.clear();
    for (const w of open) {
      if (w.timer) clearTimeout(w.timer);
      await w.writer.close().catch(() => {});
    }
  }

  /** The session's writer, opened (or resumed) on first use. Throws BLOB_UPLOAD_UNKNOWN. */
  private async writer(name: string, uuid: string): Promise<IngestWriter> {
    if (!UUID_RE.test(uuid)) throw registryError('BLOB_UPLOAD_UNKNOWN', `upload session "${uuid.slice(0, 80)}" is not a valid upload id`);
    const session = await this.meta.getUpload(name, uuid);
    if (!session || session.repository !== name) {
      throw registryError('BLOB_UPLOAD_UNKNOWN', `upload session ${uuid} not found in repository ${name} (finished, cancelled or never started)`);
    }
    let open = this.writers.get(uuid);
    if (!open) {
      await this.closing.get(uuid);
      this.makeRoom();
      // Reserve the slot while the ingest opens, so concurrent opens cannot overshoot the bound.
      this.opening++;
      try {
        open = { writer: await this.store.ingest(UploadSessions.ingestRef(uuid)) };
      } finally {
        this.opening--;
      }
      this.writers.set(uuid, open);
    }
    this.touch(uuid, open);
    return open.writer;
  }

  /**
   * Keep open writers bounded: close the least recently used idle one (its
   * data stays; the session resumes on its next request). When every open
   * writer is in the middle of a request, refuse with 429 rather than run
   * out of file descriptors.
   */
  private makeRoom(): void {
    if (this.writers.size + this.opening < this.maxOpen) return;
    for (const [uuid, open] of this.writers) {
      // A session with no queued request is idle (the caller's own session is not in the map).
      if (this.locks.has(uuid)) continue;
      this.writers.delete(uuid);
      if (open.timer) clearTimeout(open.timer);
      const closed = open.writer.close().catch(() => {}).finally(() => this.closing.delete(uuid));
      this.closing.set(uuid, closed);
      return;
    }
    const open = this.writers.size + this.opening;
    throw registryError('TOO_MANY_REQUESTS', `too many uploads in progress (${open} open); retry later`, { open }, 429);
  }

  private touch(uuid: string, open: OpenWriter): void {
    // Map order is the eviction order: move this session to the end (most recently used).
    this.writers.delete(uuid);
    this.writers.set(uuid, open);
    if (open.timer) clearTimeout(open.timer);
    open.timer = setTimeout(() => {
      if (this.writers.get(uuid) !== open) return;
      void this.locked(uuid, async () => {
        if (this.writers.get(uuid) !== open) return;
        this.writers.delete(uuid);
        await open.writer.close().catch(() => {});
      });
    }, IDLE_CLOSE_MS);
    open.timer.unref();
  }

  private forget(uuid: string): void {
    const open = this.writers.get(uuid);
    if (open?.timer) clearTimeout(open.timer);
    this.writers.delete(uuid);
  }

  /** Run `fn` after every earlier request on the same session has finished. */
  private async locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(uuid) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.locks.set(uuid, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(uuid) === tail) this.locks.delete(uuid);
    }
  }
}

/** Coalesce network-sized chunks into writes of about this size. */
const WRITE_BATCH_BYTES = 1 << 20;

/**
 * Copy a request body into an ingest: small network chunks are gathered into
 * ~1 MiB writes, and one write is in flight while the next batch is read, so
 * receiving, hashing and writing overlap. Backpressure holds: we never have
 * more than one batch queued at the writer.
 */
async function pump(body: AsyncIterable<Uint8Array>, writer: IngestWriter): Promise<void> {
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let inFlight: Promise<void> = Promise.resolve();
  try {
    for await (const chunk of body) {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH_BYTES) {
        const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
        batch = [];
        batchBytes = 0;
        await inFlight;
        inFlight = writer.write(data);
        // Awaited at the next batch; until then a failure must not count as unhandled.
        inFlight.catch(() => {});
      }
    }
  } finally {
    // Whatever arrived before an error (e.g. the client went away) is kept:
    // that is what makes the upload resumable from the reported offset.
    if (batchBytes > 0) {
      const data = Buffer.concat(batch, batchBytes);
      const previous = inFlight;
      inFlight = previous.then(() => writer.write(data));
    }
    await inFlight;
  }
}

function checkRange(offset: number, range: ChunkRange, length: number | undefined): void {
  if (range.start !== offset) {
    throw registryError('BLOB_UPLOAD_INVALID', `chunk starts at byte ${range.start} but the upload holds ${offset} bytes; send the chunk starting at ${offset}`, { offset, start: range.start }, 416);
  }
  if (range.end !== undefined && length !== undefined && range.end - range.start + 1 !== length) {
    throw registryError('SIZE_INVALID', `Content-Range ${range.start}-${range.end} is ${range.end - range.start + 1} bytes but Content-Length is ${length}`, { range, length });
  }
}
