/**
 * The registry as a library: the OCI distribution spec's operations on a
 * root directory, with typed inputs and RegistryError failures. The HTTP
 * adapter (http.ts) only translates requests and answers.
 *
 * Blobs and manifest bytes live once in a content store (src/content); which
 * repository may see which blob, and tags, are per-repository metadata
 * (repositories.ts). A blob is visible in a repository only once linked there
 * (pushed, mounted, or part of a manifest pushed there), as in distribution.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobInfo, ContentStore, Digest } from '../content/types.ts';
import { openContentStore } from '../content/local.ts';
import { sha256Digest } from '../content/digest.ts';
import { isBerthError } from '../common/errors.ts';
import { MediaTypes, type Descriptor, type ImageIndex } from '../oci/image-spec.ts';
import { registryError } from './errors.ts';
import { acceptsMediaType, parseManifest } from './manifest.ts';
import { checkRepositoryName, parseManifestReference, type ManifestReference } from './names.ts';
import { RepositoryMetadata, byteOrder } from './repositories.ts';
import type { ManifestRecord, ReferrersIndex } from './types.ts';
import { UploadSessions, type ChunkRange } from './uploads.ts';
import { ManifestCache } from './manifest-cache.ts';
import { lockRegistryRoot, type RootLock } from './root-lock.ts';

/** Manifests larger than this are refused with 413 (the spec asks registries to take at least 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Read size when serving blobs. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Upper bound of one page of tags, catalog or referrers. */
export const MAX_PAGE_SIZE = 10_000;
/** Catalog page when the client gives no n (the catalog can be large). */
export const DEFAULT_CATALOG_PAGE = 1000;

export interface RegistryOptions {
  /** Serve blobs from this store instead of <root>/content (e.g. berthd's own). */
  store?: ContentStore;
  /** Upload writers kept open at once (default MAX_OPEN_WRITERS); past it, idle ones close and busy ones mean 429. */
  maxOpenUploads?: number;
}

/** Upload sessions started this long ago are dropped (distribution purges after 7 days too). */
export const STALE_UPLOAD_MS = 7 * 24 * 3600 * 1000;

export interface Page<T> {
  items: T[];
  /** Value for `last` of the next page, if there is one. */
  next?: string;
  /** The n actually used (clamped), for the Link header. */
  n?: number;
}

export interface ManifestPutResult {
  digest: Digest;
  subject?: Digest;
}

export interface ManifestGetResult {
  record: ManifestRecord;
  bytes: Buffer;
}

export class Registry {
  readonly root: string;
  readonly store: ContentStore;
  readonly meta: RepositoryMetadata;
  readonly uploads: UploadSessions;
  private readonly manifestBytes = new ManifestCache(64 * 1024 * 1024);

  private readonly lock: RootLock;

  private constructor(root: string, store: ContentStore, lock: RootLock, maxOpenUploads: number | undefined) {
    this.root = root;
    this.store = store;
    this.lock = lock;
    this.meta = new RepositoryMetadata(root);
    this.uploads = new UploadSessions(store, this.meta, maxOpenUploads);
  }

  /** Open the registry at `root`, taking ownership of it (BERTH_REGISTRY_ROOT_BUSY if another process has it). */
  static async open(root: string, options: RegistryOptions = {}): Promise<Registry> {
    const lock = await lockRegistryRoot(root, 'serve the registry');
    try {
      const store = options.store ?? (await openContentStore(join(root, 'content')));
      return new Registry(root, store, lock, options.maxOpenUploads);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  async close(): Promise<void> {
    try {
      await this.uploads.closeAll();
    } finally {
      await this.lock.release();
    }
  }

  /** Cancel upload sessions started more than `maxAgeMs` ago; returns how many. */
  async purgeStaleUploads(maxAgeMs = STALE_UPLOAD_MS, now = Date.now()): Promise<number> {
    let purged = 0;
    for (const name of await this.meta.listRepositoriesWithUploads()) {
      for (const session of await this.meta.listUploads(name)) {
        const started = Date.parse(session.startedAt);
        if (Number.isFinite(started) && now - started < maxAgeMs) continue;
        await this.uploads.cancel(name, session.uuid).catch(() => this.meta.deleteUpload(name, session.uuid));
        purged++;
      }
    }
    return purged;
  }

  // ---- blobs -------------------------------------------------------------

  /** Size of a blob visible in `name`; BLOB_UNKNOWN otherwise. */
  async statBlob(name: string, digest: Digest): Promise<BlobInfo> {
    checkRepositoryName(name);
    const linked = (await this.meta.hasBlob(name, digest)) || (await this.meta.getManifest(name, digest)) !== undefined;
    const info = linked ? await this.store.info(digest) : undefined;
    if (!info) throw registryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${name}`, { digest });
    return info;
  }

  /**
   * Stream a blob (or an inclusive byte range of it) after statBlob. Straight
   * from the committed file with large reads: the store's generic read() adds
   * a generator hop per chunk, which costs CPU per byte served.
   */
  async readBlob(digest: Digest, range?: { start: number; end: number }): Promise<Readable> {
    // Opened before the answer starts, so a blob that vanished is still a clean BLOB_UNKNOWN.
    let fh: FileHandle;
    try {
      fh = await open(this.store.blobPath(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw registryError('BLOB_UNKNOWN', `blob ${digest} is no longer in the store`, { digest });
      throw err;
    }
    return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK_BYTES });
  }

  /** Remove the blob from the repository. The bytes stay in the store for other repositories. */
  async deleteBlob(name: string, digest: Digest): Promise<void> {
    checkRepositoryName(name);
    if (!(await this.meta.hasBlob(name, digest))) {
      throw registryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${name}`, { digest });
    }
    await this.meta.unlinkBlob(name, digest);
  }

  /** Monolithic upload (POST ?digest=): stream, verify, commit, link. */
  async putBlob(name: string, body: AsyncIterable<Uint8Array>, digest: Digest, size?: number): Promise<BlobInfo> {
    checkRepositoryName(name);
    let info: BlobInfo;
    try {
      info = await this.store.write(body, size === undefined ? { digest } : { digest, size });
    } catch (err) {
      throw mapContentError(err);
    }
    await this.meta.linkBlob(name, digest);
    return info;
  }

  /**
   * Cross-repository mount. With `from`, the blob must be in that repository;
   * without it (allowed by v1.1) any blob the registry holds is mounted.
   * Returns undefined when it cannot mount (the caller opens a session instead).
   */
  async mountBlob(name: string, digest: Digest, from: string | undefined): Promise<BlobInfo | undefined> {
    checkRepositoryName(name);
    if (from !== undefined) {
      checkRepositoryName(from);
      if (!(await this.meta.hasBlob(from, digest)) && (await this.meta.getManifest(from, digest)) === undefined) return undefined;
    }
    const info = await this.store.info(digest);
    if (!info) return undefined;
    await this.meta.linkBlob(name, digest);
    return info;
  }

  // ---- upload sessions ---------------------------------------------------

  async startUpload(name: string): Promise<string> {
    checkRepositoryName(name);
    return this.uploads.start(name);
  }

  async uploadOffset(name: string, uuid: string): Promise<number> {
    checkRepositoryName(name);
    return this.uploads.offset(name, uuid);
  }

  async appendUpload(name: string, uuid: string, body: AsyncIterable<Uint8Array>, range?: ChunkRange, length?: number): Promise<number> {
    checkRepositoryName(name);
    return this.uploads.append(name, uuid, body, range, length);
  }

  async finishUpload(name: string, uuid: string, digest: Digest, body?: AsyncIterable<Uint8Array>, range?: ChunkRange, length?: number): Promise<BlobInfo> {
    checkRepositoryName(name);
    let info: BlobInfo;
    try {
      info = await this.uploads.finish(name, uuid, digest, body, range, length);
    } catch (err) {
      throw mapContentError(err);
    }
    await this.meta.linkBlob(name, digest);
    return info;
  }

  async cancelUpload(name: string, uuid: string): Promise<void> {
    checkRepositoryName(name);
    await this.uploads.cancel(name, uuid);
  }

  // ---- manifests ---------------------------------------------------------

  async putManifest(name: string, reference: string, bytes: Buffer, contentType: string | undefined): Promise<ManifestPutResult> {
    checkRepositoryName(name);
    const ref = parseManifestReference(reference);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw registryError('SIZE_INVALID', `manifest is ${bytes.length} bytes; this registry accepts at most ${MAX_MANIFEST_BYTES}`, { limit: MAX_MANIFEST_BYTES }, 413);
    }
    const digest = sha256Digest(bytes);
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw registryError('DIGEST_INVALID', `manifest pushed as ${ref.digest} but its bytes hash to ${digest}`, { expected: ref.digest, actual: digest });
    }
    const parsed = parseManifest(bytes, contentType);

    for (const blob of parsed.blobs) {
      const info = (await this.meta.hasBlob(name, blob.digest)) ? await this.store.info(blob.digest) : undefined;
      if (!info) {
        throw registryError('MANIFEST_BLOB_UNKNOWN', `manifest references blob ${blob.digest} (${blob.mediaType}), which is not in repository ${name}; push the blob first`, { digest: blob.digest });
      }
      if (info.size !== blob.size) {
        throw registryError('MANIFEST_INVALID', `manifest says blob ${blob.digest} is ${blob.size} bytes but it is ${info.size}`, { digest: blob.digest, size: blob.size, actual: info.size });
      }
    }
    for (const child of parsed.manifests) {
      const record = await this.meta.getManifest(name, child.digest);
      if (!record) {
        throw registryError('MANIFEST_BLOB_UNKNOWN', `index references manifest ${child.digest}, which is not in repository ${name}; push it first`, { digest: child.digest });
      }
    }

    await this.store.writeBytes(bytes, { digest, size: bytes.length });
    const record: ManifestRecord = { digest, mediaType: parsed.mediaType, size: bytes.length, kind: parsed.kind };
    if (parsed.artifactType) record.artifactType = parsed.artifactType;
    if (parsed.annotations) record.annotations = parsed.annotations;
    if (parsed.subject) record.subject = parsed.subject.digest;
    await this.meta.putManifest(name, record);
    if (ref.kind === 'tag') await this.meta.setTag(name, ref.tag, digest);
    this.manifestBytes.set(digest, bytes);
    return record.subject ? { digest, subject: record.subject } : { digest };
  }

  /**
   * Resolve and read a manifest. `accept` is the client's Accept header: by
   * tag, a client that cannot take an index gets the linux/amd64 manifest
   * from it, and a manifest type it cannot take is MANIFEST_UNKNOWN (as
   * distribution does); by digest the stored bytes are what was asked for.
   */
  async getManifest(name: string, reference: string, accept?: string | string[]): Promise<ManifestGetResult> {
    checkRepositoryName(name);
    const ref = parseManifestReference(reference);
    const digest = await this.resolve(name, ref);
    let result = await this.readManifest(name, digest);
    if (ref.kind === 'tag' && !acceptsMediaType(accept, result.record.mediaType)) {
      if (result.record.kind === 'index') {
        const child = defaultPlatformManifest(result.bytes);
        if (child && (await this.meta.getManifest(name, child.digest))) result = await this.readManifest(name, child.digest);
      }
      if (!acceptsMediaType(accept, result.record.mediaType)) {
        throw registryError('MANIFEST_UNKNOWN', `${name}:${ref.tag} is a ${result.record.mediaType}, which the request's Accept header does not include`, { mediaType: result.record.mediaType });
      }
    }
    return result;
  }

  async deleteManifest(name: string, reference: string): Promise<void> {
    checkRepositoryName(name);
    const ref = parseManifestReference(reference);
    if (!(await this.meta.exists(name))) throw nameUnknown(name);
    if (ref.kind === 'tag') {
      if (!(await this.meta.deleteTag(name, ref.tag))) {
        throw registryError('MANIFEST_UNKNOWN', `tag ${ref.tag} not found in repository ${name}`, { tag: ref.tag });
      }
      return;
    }
    if (!(await this.meta.deleteManifest(name, ref.digest))) {
      throw registryError('MANIFEST_UNKNOWN', `manifest ${ref.digest} not found in repository ${name}`, { digest: ref.digest });
    }
  }

  private async resolve(name: string, ref: ManifestReference): Promise<Digest> {
    if (ref.kind === 'digest') return ref.digest;
    const digest = await this.meta.resolveTag(name, ref.tag);
    if (!digest) throw registryError('MANIFEST_UNKNOWN', `manifest tagged ${ref.tag} not found in repository ${name}`, { tag: ref.tag });
    return digest;
  }

  private async readManifest(name: string, digest: Digest): Promise<ManifestGetResult> {
    const record = await this.meta.getManifest(name, digest);
    if (!record) throw registryError('MANIFEST_UNKNOWN', `manifest ${digest} not found in repository ${name}`, { digest });
    let bytes = this.manifestBytes.get(digest);
    if (!bytes) {
      try {
        bytes = await this.store.readBytes(digest);
      } catch (err) {
        if (isBerthError(err, 'BERTH_CONTENT_NOT_FOUND')) {
          throw registryError('MANIFEST_UNKNOWN', `manifest ${digest} of repository ${name} is missing from the content store`, { digest });
        }
        throw err;
      }
      this.manifestBytes.set(digest, bytes);
    }
    return { record, bytes };
  }

  // ---- discovery ---------------------------------------------------------

  async listTags(name: string, n?: number, last?: string): Promise<Page<string>> {
    checkRepositoryName(name);
    if (!(await this.meta.exists(name))) throw nameUnknown(name);
    return paginate(await this.meta.listTags(name), n, last, undefined);
  }

  async catalog(n?: number, last?: string): Promise<Page<string>> {
    return paginate(await this.meta.listRepositories(), n, last, DEFAULT_CATALOG_PAGE);
  }

  /** Referrers of `subject` in `name`; never NAME_UNKNOWN (the spec forbids 404 here). */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
    checkRepositoryName(name);
    let manifests: Descriptor[] = await this.meta.listReferrers(name, subject);
    if (artifactType !== undefined) manifests = manifests.filter((d) => d.artifactType === artifactType);
    return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }

  /** Where the repository's metadata lives (for tooling and tests). */
  repositoryDir(name: string): string {
    return this.meta.dir(checkRepositoryName(name));
  }
}

function paginate(all: string[], n: number | undefined, last: string | undefined, defaultN: number | undefined): Page<string> {
  let items = last === undefined ? all : all.filter((t) => byteOrder(t, last) > 0);
  const limit = n === undefined ? defaultN : Math.min(n, MAX_PAGE_SIZE);
  if (limit === undefined || items.length <= limit) return { items, n: limit };
  items = items.slice(0, limit);
  // n=0: an empty list and no Link header (spec).
  if (limit === 0) return { items, n: limit };
  return { items, next: items[items.length - 1], n: limit };
}

function nameUnknown(name: string) {
  return registryError('NAME_UNKNOWN', `repository ${name} not known to this registry`, { name });
}

/** The linux/amd64 entry of an index, for clients that cannot take indexes. */
function defaultPlatformManifest(bytes: Buffer): Descriptor | undefined {
  try {
    const index = JSON.parse(bytes.toString('utf8')) as ImageIndex;
    return index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
  } catch {
    return undefined;
  }
}

/** Content store failures that are the client's fault, as the spec's codes. */
function mapContentError(err: unknown): unknown {
  if (isBerthError(err, 'BERTH_CONTENT_DIGEST_MISMATCH')) {
    return registryError('DIGEST_INVALID', `${(err as Error).message}; nothing was stored`, (err as { detail?: unknown }).detail);
  }
  if (isBerthError(err, 'BERTH_CONTENT_SIZE_MISMATCH')) {
    return registryError('SIZE_INVALID', `${(err as Error).message}; nothing was stored`, (err as { detail?: unknown }).detail);
  }
  if (isBerthError(err, 'BERTH_CONTENT_INGEST_LOCKED')) {
    return registryError('BLOB_UPLOAD_INVALID', (err as Error).message, undefined, 409);
  }
  return err;
}

