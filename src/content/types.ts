import type { Readable } from 'node:stream';

/** `sha256:<64 hex>` — the only algorithm berth writes; others are refused clearly. */
export type Digest = `sha256:${string}`;

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** What a writer knows in advance; whatever is given is verified before commit. */
export interface Expected {
  digest?: Digest;
  size?: number;
}

/**
 * A resumable write into the ingest area (for registry chunked uploads and
 * resumed pulls). Bytes are hashed as they arrive; nothing is visible in the
 * store until commit() verifies digest and size and renames the blob in.
 */
export interface IngestWriter {
  readonly ref: string;
  /** Bytes received so far (the next chunk must start here). */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Verify and move into the store. Idempotent if the blob already exists. */
  commit(expected: Expected): Promise<BlobInfo>;
  /** Drop the partial data. */
  abort(): Promise<void>;
  /** Release the handle but keep the partial data for a later resume. */
  close(): Promise<void>;
}

/**
 * Content-addressed blob store laid out as an OCI image layout
 * (blobs/sha256/<hex>, oci-layout, index.json). Modelled on containerd's
 * core/content: small surface, one conformance suite for every implementation.
 */
export interface ContentStore {
  readonly root: string;
  has(digest: Digest): Promise<boolean>;
  /** Size of a committed blob, or undefined. */
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** Filesystem path of a committed blob (read-only use). */
  blobPath(digest: Digest): string;
  /** Stream a committed blob; `start`/`end` are inclusive byte offsets. Throws BERTH_CONTENT_NOT_FOUND. */
  read(digest: Digest, range?: { start?: number; end?: number }): Readable;
  readBytes(digest: Digest): Promise<Buffer>;
  /** Stream bytes in, verify against `expected`, commit. Throws BERTH_CONTENT_DIGEST_MISMATCH / BERTH_CONTENT_SIZE_MISMATCH. */
  write(source: AsyncIterable<Uint8Array> | Readable, expected?: Expected): Promise<BlobInfo>;
  writeBytes(bytes: Uint8Array, expected?: Expected): Promise<BlobInfo>;
  /** Open (or resume, if `ref` has partial data) an ingest. */
  ingest(ref: string): Promise<IngestWriter>;
  delete(digest: Digest): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
}
