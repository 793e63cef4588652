/**
 * Pushing an image from the content store to a registry.
 *
 * Every blob is first looked for in the target repository (HEAD: "Layer
 * already exists"), then mounted from another repository of the same registry
 * if one is known to hold it ("Mounted from"), and only otherwise uploaded:
 * in one PUT when small, in PATCH chunks when large, read straight from the
 * store (never buffered whole). Blobs go up in parallel; the manifest is PUT
 * last, by tag and/or by digest. An index is pushed with its child manifests
 * first (by digest), as the registry requires.
 */
import { BerthError } from '../common/errors.ts';
import type { ProgressSink } from '../common/progress.ts';
import { sha256Digest, shortDigest, isDigest } from '../content/digest.ts';
import type { ContentStore, Digest } from '../content/types.ts';
import { parseDockerRef, referenceString } from '../image/reference.ts';
import type { ImageReference } from '../image/reference.ts';
import { isIndexMediaType, isManifestMediaType, layerMediaTypeInfo } from '../oci/image-spec.ts';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/image-spec.ts';
import { RegistryClient } from './client.ts';
import { runBounded } from './bounded.ts';
import { backoff, isRetryable } from './retry.ts';
import type { Credentials } from './types.ts';

export interface PushOptions {
  /** Where to push: `127.0.0.1:5000/a/b:tag` (tag defaults to latest) or `…@sha256:…` (by digest only). */
  reference: string | ImageReference;
  store: ContentStore;
  /** The manifest or index to push, as stored in `store` (mediaType, digest, size). */
  manifestDescriptor: Descriptor;
  progress?: ProgressSink;
  credentials?: Credentials | null;
  configPath?: string;
  insecureRegistries?: readonly string[];
  /** Blobs uploaded at once (docker's default is 5). */
  concurrency?: number;
  /** Blobs up to this size go up in one PUT; larger ones in PATCH chunks. Default 32 MiB. */
  monolithicMaxBytes?: number;
  /** Chunk size for chunked uploads. Default 32 MiB. */
  chunkBytes?: number;
  /**
   * Repositories on the same registry known to hold a blob (e.g. the one it
   * was pulled from): the registry is asked to mount it from there instead of
   * receiving the bytes again.
   */
  mountCandidates?: (digest: Digest) => readonly string[] | Promise<readonly string[]>;
  /** Extra attempts for a blob upload that failed on the way (connection, 5xx, 429). Default 2. */
  retries?: number;
  /** Also PUT the manifest by its digest when pushing by tag. */
  alsoByDigest?: boolean;
  signal?: AbortSignal;
  userAgent?: string;
  client?: RegistryClient;
}

export interface PushResult {
  reference: ImageReference;
  /** Digest of the pushed manifest (or index). */
  digest: Digest;
  size: number;
  mediaType: string;
  /** Blobs whose bytes were sent (the rest existed or were mounted). */
  uploaded: Digest[];
  mounted: Digest[];
}

const DEFAULT_CONCURRENCY = 5;
const DEFAULT_MONOLITHIC_MAX = 32 << 20;
const DEFAULT_CHUNK = 32 << 20;
const PROGRESS_INTERVAL_MS = 100;

export async function pushImage(opts: PushOptions): Promise<PushResult> {
  const ref = typeof opts.reference === 'string' ? parseDockerRef(opts.reference) : opts.reference;
  const client =
    opts.client ??
    new RegistryClient({
      registry: ref.domain,
      insecureRegistries: opts.insecureRegistries,
      credentials: opts.credentials,
      configPath: opts.configPath,
      signal: opts.signal,
      userAgent: opts.userAgent,
    });
  const pusher = new Pusher(client, opts, ref);
  const top = await pusher.loadManifest(opts.manifestDescriptor);
  let pushed: LoadedManifest = top;
  if (top.index) {
    const missing: Descriptor[] = [];
    const present: LoadedManifest[] = [];
    for (const child of top.index.manifests) {
      if (await opts.store.has(child.digest)) present.push(await pusher.loadManifest(child));
      else missing.push(child);
    }
    if (missing.length === 0) {
      // Children first: a registry refuses an index naming manifests it does not have.
      for (const child of present) {
        if (child.image) await pusher.pushBlobsOf(child.image);
        await pusher.putManifest(child, child.descriptor.digest);
      }
    } else {
      // Only some platforms are here (a pulled multi-platform image): push the one we have, as docker does.
      const local = present.find((p) => p.image);
      if (!local) {
        throw new BerthError(
          'BERTH_DISTRIBUTION_MISSING_CONTENT',
          `cannot push ${referenceString(ref)}: none of the ${top.index.manifests.length} manifests of index ${top.descriptor.digest} is in the local store`,
          { status: 404 },
        );
      }
      pushed = local;
    }
  }
  if (pushed.image) await pusher.pushBlobsOf(pushed.image);
  const target = ref.digest ?? ref.tag ?? 'latest';
  if (ref.digest && ref.digest !== pushed.descriptor.digest) {
    throw new BerthError('BERTH_DISTRIBUTION_DIGEST_MISMATCH', `cannot push ${pushed.descriptor.digest} as ${referenceString(ref)}: the reference names another digest`, { status: 400 });
  }
  await pusher.putManifest(pushed, target);
  if (opts.alsoByDigest && !ref.digest) await pusher.putManifest(pushed, pushed.descriptor.digest);
  return {
    reference: ref,
    digest: pushed.descriptor.digest,
    size: pushed.descriptor.size,
    mediaType: pushed.descriptor.mediaType,
    uploaded: pusher.uploaded,
    mounted: pusher.mounted,
  };
}

interface LoadedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  image?: ImageManifest;
  index?: ImageIndex;
}

class Pusher {
  readonly uploaded: Digest[] = [];
  readonly mounted: Digest[] = [];
  private readonly client: RegistryClient;
  private readonly opts: PushOptions;
  private readonly ref: ImageReference;
  private readonly repo: string;
  private readonly progress: ProgressSink;
  /** Blobs handled in this push (a layer shared by two platforms goes up once). */
  private readonly done = new Map<Digest, Promise<void>>();

  constructor(client: RegistryClient, opts: PushOptions, ref: ImageReference) {
    this.client = client;
    this.opts = opts;
    this.ref = ref;
    this.repo = ref.path;
    this.progress = opts.progress ?? (() => {});
  }

  async loadManifest(desc: Descriptor): Promise<LoadedManifest> {
    if (!isDigest(desc.digest)) throw new BerthError('BERTH_DISTRIBUTION_INVALID_MANIFEST', `manifest descriptor has an invalid digest ${JSON.stringify(desc.digest)}`, { status: 400 });
    const bytes = await this.opts.store.readBytes(desc.digest);
    if (sha256Digest(bytes) !== desc.digest) {
      throw new BerthError('BERTH_DISTRIBUTION_DIGEST_MISMATCH', `local manifest ${desc.digest} does not hash to its digest; the store is damaged`, { status: 500 });
    }
    let parsed: ImageManifest & ImageIndex;
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as ImageManifest & ImageIndex;
    } catch (err) {
      throw new BerthError('BERTH_DISTRIBUTION_INVALID_MANIFEST', `local manifest ${desc.digest} is not valid JSON: ${(err as Error).message}`, { status: 400 });
    }
    const mediaType = (typeof parsed.mediaType === 'string' && parsed.mediaType) || desc.mediaType;
    const descriptor: Descriptor = { mediaType, digest: desc.digest, size: bytes.length };
    if (isIndexMediaType(mediaType)) return { descriptor, bytes, index: parsed };
    if (isManifestMediaType(mediaType)) return { descriptor, bytes, image: parsed };
    throw new BerthError('BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST', `cannot push ${desc.digest}: unsupported manifest media type ${JSON.stringify(mediaType)}`, { status: 400 });
  }

  async pushBlobsOf(manifest: ImageManifest): Promise<void> {
    const layers = manifest.layers.filter((l) => !layerMediaTypeInfo(l.mediaType)?.nondistributable && !(l.urls && l.urls.length));
    for (const l of layers) this.progress({ id: shortDigest(l.digest), status: 'Preparing' });
    const jobs = [...layers.map((l) => () => this.pushBlob(l, true)), () => this.pushBlob(manifest.config, false)];
    const limit = Math.max(1, this.opts.concurrency ?? DEFAULT_CONCURRENCY);
    await runBounded(jobs, limit, (i) => {
      if (i < layers.length) this.progress({ id: shortDigest(layers[i]!.digest), status: 'Waiting' });
    });
  }

  private pushBlob(desc: Descriptor, isLayer: boolean): Promise<void> {
    let p = this.done.get(desc.digest);
    if (!p) {
      p = this.pushBlobOnce(desc, isLayer);
      this.done.set(desc.digest, p);
    }
    return p;
  }

  private async pushBlobOnce(desc: Descriptor, isLayer: boolean): Promise<void> {
    const id = shortDigest(desc.digest);
    const info = await this.opts.store.info(desc.digest);
    if (!info) {
      throw new BerthError('BERTH_DISTRIBUTION_MISSING_CONTENT', `cannot push ${referenceString(this.ref)}: blob ${desc.digest} is not in the local store`, { status: 404 });
    }
    if (info.size !== desc.size) {
      throw new BerthError('BERTH_DISTRIBUTION_SIZE_MISMATCH', `local blob ${desc.digest} is ${info.size} bytes but the manifest says ${desc.size}`, { status: 500 });
    }
    const existing = await this.client.headBlob(this.repo, desc.digest, ['pull', 'push']);
    if (existing !== undefined) {
      if (isLayer) this.progress({ id, status: 'Layer already exists' });
      return;
    }
    const from = ((await this.opts.mountCandidates?.(desc.digest)) ?? []).find((repo) => repo !== this.repo);
    const retries = this.opts.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      try {
        // Only the first attempt asks for a mount; a refused mount opens an ordinary upload session.
        const started = await this.client.startUpload(this.repo, from && attempt === 0 ? { digest: desc.digest, from } : undefined);
        if (started.mounted) {
          this.mounted.push(desc.digest);
          if (isLayer) this.progress({ id, status: `Mounted from ${from}` });
          return;
        }
        await this.upload(desc, started.location, isLayer);
        return;
      } catch (err) {
        if (this.opts.signal?.aborted) throw this.opts.signal.reason ?? err;
        if (attempt < retries && isRetryable(err)) {
          await backoff(attempt, this.opts.signal);
          continue;
        }
        throw err;
      }
    }
  }

  private async upload(desc: Descriptor, location: URL, isLayer: boolean): Promise<void> {
    const id = shortDigest(desc.digest);
    const store = this.opts.store;
    const total = desc.size;
    const sent = { bytes: 0, lastReport: 0 };
    const report = (force: boolean) => {
      if (!isLayer) return;
      const now = Date.now();
      if (!force && now - sent.lastReport < PROGRESS_INTERVAL_MS) return;
      sent.lastReport = now;
      this.progress({ id, status: 'Pushing', current: sent.bytes, total });
    };
    // A body factory, so a retry after a 401 re-reads the range from the start.
    const body = (start: number, length: number) => () =>
      counted(length === 0 ? emptyStream() : store.read(desc.digest, { start, end: start + length - 1 }), start, sent, report);
    const monolithicMax = this.opts.monolithicMaxBytes ?? DEFAULT_MONOLITHIC_MAX;
    if (total <= monolithicMax) {
      await this.client.finishUpload(this.repo, location, desc.digest, body(0, total), total);
    } else {
      const chunk = Math.max(1, this.opts.chunkBytes ?? DEFAULT_CHUNK);
      let loc = location;
      for (let start = 0; start < total; start += chunk) {
        const length = Math.min(chunk, total - start);
        loc = await this.client.uploadChunk(this.repo, loc, body(start, length), start, length);
      }
      await this.client.finishUpload(this.repo, loc, desc.digest);
    }
    sent.bytes = total;
    report(true);
    this.uploaded.push(desc.digest);
    if (isLayer) this.progress({ id, status: 'Pushed' });
  }

  async putManifest(m: LoadedManifest, reference: string): Promise<void> {
    const answered = await this.client.putManifest(this.repo, reference, m.bytes, m.descriptor.mediaType);
    if (answered && answered.startsWith('sha256:') && answered !== m.descriptor.digest) {
      throw new BerthError(
        'BERTH_DISTRIBUTION_DIGEST_MISMATCH',
        `registry ${this.client.registry} stored manifest ${referenceString(this.ref)} as ${answered}, not ${m.descriptor.digest} (it rewrote the manifest)`,
        { status: 502 },
      );
    }
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

/** Pass a stream through, keeping `sent.bytes` at start + bytes seen, for progress. */
async function* counted(source: AsyncIterable<Uint8Array>, start: number, sent: { bytes: number }, report: (force: boolean) => void): AsyncIterable<Uint8Array> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    sent.bytes = start + seen;
    report(false);
    yield chunk;
  }
}
