/**
 * Pulling an image from a registry into the content store.
 *
 * The manifest is fetched with every media type berth reads in Accept and its
 * digest checked (against the reference's digest, or the registry's
 * Docker-Content-Digest); an index is narrowed to one platform. Config and
 * layers are then fetched in parallel with bounded concurrency, each streamed
 * into a resumable ingest that hashes as it writes and only commits when
 * digest and size match. Blobs already in the store are skipped; an
 * interrupted download resumes with a Range request where the registry allows.
 * `onLayerCommitted` fires as each layer lands so unpacking can overlap the
 * rest of the transfer.
 */
import { BerthError, isBerthError } from '../common/errors.ts';
import type { ProgressSink } from '../common/progress.ts';
import { sha256Digest, shortDigest, isDigest } from '../content/digest.ts';
import type { ContentStore, Digest, IngestWriter } from '../content/types.ts';
import { parseDockerRef, referenceString } from '../image/reference.ts';
import type { ImageReference } from '../image/reference.ts';
import { CONFIG_MEDIA_TYPES, MediaTypes, isIndexMediaType, isManifestMediaType } from '../oci/image-spec.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/image-spec.ts';
import { RegistryClient } from './client.ts';
import { drain, header } from './transport.ts';
import { hostPlatform, parsePlatform, selectManifest } from '../image/platform.ts';
import type { Credentials } from './types.ts';
import { runBounded } from './bounded.ts';
import { backoff, isRetryable } from './retry.ts';

export interface PullOptions {
  /** `busybox`, `127.0.0.1:5000/a/b:tag`, `…@sha256:…`, or an already parsed reference. */
  reference: string | ImageReference;
  store: ContentStore;
  /** `os/arch[/variant]` or a Platform; default the host's. */
  platform?: string | Platform;
  progress?: ProgressSink;
  /** Explicit credentials; undefined = from the docker config file; null = anonymous. */
  credentials?: Credentials | null;
  /** docker config.json to read credentials from. */
  configPath?: string;
  insecureRegistries?: readonly string[];
  /** Blobs downloaded at once (docker's default is 3). */
  concurrency?: number;
  /** Extra attempts for a blob whose transfer broke off (each resumes where it stopped). Default 2. */
  retries?: number;
  /**
   * Called once per layer as soon as it is committed to the store (or found
   * there), in completion order; `index` is its position in manifest.layers.
   * Downloads go on while it runs; pullImage waits for every returned promise
   * before it resolves, and fails if one rejects.
   */
  onLayerCommitted?: (layer: Descriptor, index: number) => void | Promise<void>;
  signal?: AbortSignal;
  userAgent?: string;
  /** Reuse a client (and its tokens) across operations on the same registry. */
  client?: RegistryClient;
}

export interface PullResult {
  reference: ImageReference;
  /** What the reference resolved to: the index digest for a multi-platform image, else the manifest's. */
  digest: Digest;
  indexDescriptor?: Descriptor;
  index?: ImageIndex;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  configDescriptor: Descriptor;
  config: ImageConfig;
  layers: Descriptor[];
  /** Layers that had to be downloaded (the rest were already in the store). */
  downloaded: Digest[];
}

const DEFAULT_CONCURRENCY = 3;
/** Network reads are gathered into writes of about this size (fewer syscalls, fewer awaits). */
const WRITE_BATCH_BYTES = 1 << 20;
const PROGRESS_INTERVAL_MS = 100;

export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const ref = typeof opts.reference === 'string' ? parseDockerRef(opts.reference) : opts.reference;
  const progress: ProgressSink = opts.progress ?? (() => {});
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
  const repo = ref.path;
  const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
  progress({ id: ref.digest ?? ref.tag ?? 'latest', status: `Pulling from ${repo}` });

  // 1. The manifest the reference names (maybe an index).
  const top = await fetchManifest(client, ref, repo, tagOrDigest, ref.digest);
  let indexDescriptor: Descriptor | undefined;
  let index: ImageIndex | undefined;
  let manifestDescriptor: Descriptor;
  let manifest: ImageManifest;
  if (isIndexMediaType(top.descriptor.mediaType)) {
    indexDescriptor = top.descriptor;
    index = top.parsed as ImageIndex;
    if (!Array.isArray(index.manifests)) throw invalidManifest(ref, 'index has no "manifests" array');
    const wanted = opts.platform === undefined ? hostPlatform() : typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
    // buildx attestation entries are not images (their platform is unknown/unknown).
    const images = index.manifests.filter((m) => m && m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    const chosen = selectManifest(images, wanted, referenceString(ref));
    if (!isDigest(chosen.digest)) throw invalidManifest(ref, `index entry has an invalid digest ${JSON.stringify(chosen.digest)}`);
    const child = await fetchManifest(client, ref, repo, chosen.digest, chosen.digest);
    if (!isManifestMediaType(child.descriptor.mediaType)) {
      throw new BerthError(
        'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST',
        `${referenceString(ref)}: index entry ${chosen.digest} is a ${child.descriptor.mediaType}, not an image manifest`,
        { status: 400 },
      );
    }
    manifestDescriptor = { ...child.descriptor, ...(chosen.platform ? { platform: chosen.platform } : {}) };
    manifest = child.parsed as ImageManifest;
    validateImageManifest(ref, manifest);
    await writeVerified(opts.store, top.bytes, top.descriptor);
    await writeVerified(opts.store, child.bytes, child.descriptor);
  } else {
    manifestDescriptor = top.descriptor;
    manifest = top.parsed as ImageManifest;
    validateImageManifest(ref, manifest);
    await writeVerified(opts.store, top.bytes, top.descriptor);
  }

  // 2. Config and layers, in parallel, config first in the queue.
  const layers = manifest.layers;
  const configDescriptor = manifest.config;
  const downloaded: Digest[] = [];
  const hookPromises: Promise<unknown>[] = [];
  for (const layer of layers) progress({ id: shortDigest(layer.digest), status: 'Pulling fs layer' });

  const fetcher = new BlobFetcher(client, opts.store, repo, progress, opts.retries ?? 2, opts.signal);
  const jobs: (() => Promise<void>)[] = [];
  jobs.push(async () => {
    await fetcher.fetch(configDescriptor, false);
  });
  layers.forEach((layer, i) => {
    jobs.push(async () => {
      const fetched = await fetcher.fetch(layer, true);
      if (fetched) downloaded.push(layer.digest);
      if (opts.onLayerCommitted) {
        const p = Promise.resolve().then(() => opts.onLayerCommitted!(layer, i));
        // Surfaced by the Promise.all below; keep Node from calling it unhandled meanwhile.
        p.catch(() => {});
        hookPromises.push(p);
      }
    });
  });
  try {
    await runBounded(jobs, Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY), (i) => {
      if (i > 0) progress({ id: shortDigest(layers[i - 1]!.digest), status: 'Waiting' });
    });
  } catch (err) {
    // Let unpacking already under way finish before reporting, so nothing runs on behind the caller's back.
    await Promise.allSettled(hookPromises);
    throw err;
  }
  await Promise.all(hookPromises);

  const configBytes = await opts.store.readBytes(configDescriptor.digest);
  let config: ImageConfig;
  try {
    config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw new BerthError('BERTH_DISTRIBUTION_INVALID_CONFIG', `${referenceString(ref)}: image config ${configDescriptor.digest} is not valid JSON: ${(err as Error).message}`, {
      status: 400,
    });
  }
  if (!config || typeof config !== 'object') {
    throw new BerthError('BERTH_DISTRIBUTION_INVALID_CONFIG', `${referenceString(ref)}: image config ${configDescriptor.digest} is not a JSON object`, { status: 400 });
  }
  return {
    reference: ref,
    digest: (indexDescriptor ?? manifestDescriptor).digest,
    ...(indexDescriptor ? { indexDescriptor, index } : {}),
    manifestDescriptor,
    manifest,
    configDescriptor,
    config,
    layers,
    downloaded,
  };
}

// ---- manifests --------------------------------------------------------------

interface FetchedManifest {
  bytes: Buffer;
  descriptor: Descriptor;
  parsed: ImageManifest | ImageIndex;
}

async function fetchManifest(client: RegistryClient, ref: ImageReference, repo: string, reference: string, expectedDigest: Digest | undefined): Promise<FetchedManifest> {
  const res = await client.getManifest(repo, reference);
  const digest = sha256Digest(res.bytes);
  const where = `${ref.domain}/${repo}@${reference}`;
  if (expectedDigest && digest !== expectedDigest) {
    throw new BerthError('BERTH_DISTRIBUTION_DIGEST_MISMATCH', `manifest ${where}: registry sent content with digest ${digest}, not the ${expectedDigest} asked for; refused`, {
      status: 502,
    });
  }
  if (!expectedDigest && res.digest && res.digest.startsWith('sha256:') && res.digest !== digest) {
    throw new BerthError(
      'BERTH_DISTRIBUTION_DIGEST_MISMATCH',
      `manifest ${where}: Docker-Content-Digest says ${res.digest} but the content hashes to ${digest}; refused`,
      { status: 502 },
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(res.bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw invalidManifest(ref, `manifest ${reference} is not valid JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidManifest(ref, `manifest ${reference} is not a JSON object`);
  const mediaType = manifestMediaType(parsed, res.contentType);
  if (mediaType === MediaTypes.dockerManifestV1 || mediaType === MediaTypes.dockerManifestV1Signed || parsed.schemaVersion === 1) {
    throw new BerthError(
      'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST',
      `${where}: Docker image manifest schema 1 is deprecated and not supported; push the image again with a current client`,
      { status: 400 },
    );
  }
  if (!mediaType || (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType))) {
    throw new BerthError(
      'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST',
      `${where}: unsupported manifest media type ${JSON.stringify(mediaType ?? res.contentType ?? '(none)')}; berth reads OCI image manifests and indexes and Docker schema 2 manifests and manifest lists`,
      { status: 400 },
    );
  }
  return { bytes: res.bytes, descriptor: { mediaType, digest, size: res.bytes.length }, parsed: parsed as unknown as ImageManifest | ImageIndex };
}

/**
 * The manifest's own mediaType wins over Content-Type (registries are sloppy
 * with the header); an OCI manifest may have neither, then its shape decides.
 */
function manifestMediaType(parsed: Record<string, unknown>, contentType: string | undefined): string | undefined {
  if (typeof parsed.mediaType === 'string' && parsed.mediaType) return parsed.mediaType;
  if (contentType && contentType !== 'application/json' && contentType !== 'application/octet-stream' && contentType !== 'text/plain') return contentType;
  if (Array.isArray(parsed.manifests)) return MediaTypes.ociIndex;
  if (parsed.config && Array.isArray(parsed.layers)) return MediaTypes.ociManifest;
  return contentType;
}

function validateImageManifest(ref: ImageReference, m: ImageManifest): void {
  if (!m.config || typeof m.config !== 'object') throw invalidManifest(ref, 'manifest has no "config" descriptor');
  if (!Array.isArray(m.layers)) throw invalidManifest(ref, 'manifest has no "layers" array');
  if (typeof m.config.mediaType === 'string' && !CONFIG_MEDIA_TYPES.includes(m.config.mediaType)) {
    // An OCI artifact (helm chart, signature, SBOM …) rather than a container image.
    throw new BerthError(
      'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST',
      `${referenceString(ref)} is not a container image: its config has media type ${JSON.stringify(m.config.mediaType)} (artifacts cannot be pulled as images)`,
      { status: 400 },
    );
  }
  for (const [i, d] of [m.config, ...m.layers].entries()) {
    const what = i === 0 ? 'config' : `layers[${i - 1}]`;
    if (!d || typeof d !== 'object') throw invalidManifest(ref, `${what} is not a descriptor`);
    if (!isDigest(d.digest)) throw invalidManifest(ref, `${what} has an invalid or unsupported digest ${JSON.stringify(d.digest)}`);
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw invalidManifest(ref, `${what} has an invalid size ${JSON.stringify(d.size)}`);
    if (typeof d.mediaType !== 'string') throw invalidManifest(ref, `${what} has no mediaType`);
  }
}

function invalidManifest(ref: ImageReference, why: string): BerthError {
  return new BerthError('BERTH_DISTRIBUTION_INVALID_MANIFEST', `${referenceString(ref)}: ${why}`, { status: 400 });
}

async function writeVerified(store: ContentStore, bytes: Buffer, desc: Descriptor): Promise<void> {
  if (await store.has(desc.digest)) return;
  await store.writeBytes(bytes, { digest: desc.digest, size: desc.size });
}

// ---- blobs ------------------------------------------------------------------

/** Downloads in flight in this process, so two pulls sharing a layer fetch it once. */
const inflight = new Map<string, Promise<boolean>>();

class BlobFetcher {
  private readonly client: RegistryClient;
  private readonly store: ContentStore;
  private readonly repo: string;
  private readonly progress: ProgressSink;
  private readonly retries: number;
  private readonly signal: AbortSignal | undefined;

  constructor(client: RegistryClient, store: ContentStore, repo: string, progress: ProgressSink, retries: number, signal: AbortSignal | undefined) {
    this.client = client;
    this.store = store;
    this.repo = repo;
    this.progress = progress;
    this.retries = retries;
    this.signal = signal;
  }

  /** Make sure `desc` is in the store. Resolves true if it had to be downloaded. */
  async fetch(desc: Descriptor, isLayer: boolean): Promise<boolean> {
    const id = shortDigest(desc.digest);
    if (await this.store.has(desc.digest)) {
      if (isLayer) this.progress({ id, status: 'Already exists' });
      return false;
    }
    const key = `${this.store.root}\0${desc.digest}`;
    const shared = inflight.get(key);
    if (shared) {
      // Another pull in this process is fetching it (maybe from another registry or
      // with other credentials): use its result, or try ourselves if it failed.
      const ok = await shared.then(
        () => true,
        () => false,
      );
      if (ok) {
        if (isLayer) this.progress({ id, status: 'Download complete' });
        return true;
      }
      return this.fetch(desc, isLayer);
    }
    const pending = this.download(desc, isLayer).finally(() => inflight.delete(key));
    inflight.set(key, pending);
    return pending;
  }

  private async download(desc: Descriptor, isLayer: boolean): Promise<boolean> {
    const id = shortDigest(desc.digest);
    const ref = `pull:${desc.digest}`;
    for (let attempt = 0; ; attempt++) {
      this.signal?.throwIfAborted();
      let writer: IngestWriter;
      try {
        writer = await this.store.ingest(ref);
      } catch (err) {
        // Another process is downloading the same blob into this store: wait for it.
        if (isBerthError(err, 'BERTH_CONTENT_INGEST_LOCKED')) {
          await waitForBlob(this.store, desc.digest, this.signal);
          if (isLayer) this.progress({ id, status: 'Download complete' });
          return true;
        }
        throw err;
      }
      try {
        await this.transfer(desc, writer, isLayer);
      } catch (err) {
        // Wrong bytes are dropped; anything else (a cut connection, a 5xx, an
        // abort, a 404) keeps what was received for a later resume.
        if (err instanceof RestartIngest || isBerthError(err, 'BERTH_DISTRIBUTION_SIZE_MISMATCH')) await writer.abort();
        else await writer.close();
        if (this.signal?.aborted) throw this.signal.reason ?? err;
        if (attempt < this.retries && (err instanceof RestartIngest || isTransient(err))) {
          if (!(err instanceof RestartIngest)) await backoff(attempt, this.signal);
          continue;
        }
        throw err;
      }
      if (isLayer) this.progress({ id, status: 'Verifying Checksum' });
      try {
        await writer.commit({ digest: desc.digest, size: desc.size });
      } catch (err) {
        await writer.abort().catch(() => {});
        if (isBerthError(err, 'BERTH_CONTENT_DIGEST_MISMATCH') || isBerthError(err, 'BERTH_CONTENT_SIZE_MISMATCH')) {
          throw new BerthError(
            'BERTH_DISTRIBUTION_DIGEST_MISMATCH',
            `blob ${desc.digest} from ${this.client.registry}/${this.repo}: the registry sent different content (${(err as Error).message}); nothing was stored`,
            { status: 502, cause: err },
          );
        }
        throw err;
      }
      if (isLayer) this.progress({ id, status: 'Download complete' });
      return true;
    }
  }

  /** Stream the (rest of the) blob into `writer`, checking it never exceeds the descriptor's size. */
  private async transfer(desc: Descriptor, writer: IngestWriter, isLayer: boolean): Promise<void> {
    const id = shortDigest(desc.digest);
    let offset = writer.offset;
    if (offset > desc.size) throw new BerthError('BERTH_DISTRIBUTION_SIZE_MISMATCH', `partial download of ${desc.digest} is larger than the blob; discarded`, { status: 502 });
    if (offset === desc.size) return;
    const { res, partial } = await this.client.openBlob(this.repo, desc.digest, offset);
    if (!partial && offset > 0) {
      // The registry ignores Range: the partial data is useless, start over in a fresh ingest.
      await drain(res);
      throw new RestartIngest();
    }
    const length = Number(header(res, 'content-length'));
    if (Number.isFinite(length) && header(res, 'content-length') !== undefined && length !== desc.size - offset) {
      res.body.destroy();
      throw new BerthError(
        'BERTH_DISTRIBUTION_SIZE_MISMATCH',
        `blob ${desc.digest} from ${this.client.registry}/${this.repo}: registry announces ${length} bytes, the manifest says ${desc.size - offset}; refused`,
        { status: 502 },
      );
    }
    let received = offset;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let lastWrite: Promise<void> = Promise.resolve();
    let lastReport = 0;
    const flush = async () => {
      if (batchBytes === 0) return;
      const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
      batch = [];
      batchBytes = 0;
      // One write in flight while the next batch fills: disk and network overlap.
      await lastWrite;
      lastWrite = writer.write(chunk);
    };
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > desc.size) {
          res.body.destroy();
          throw new BerthError(
            'BERTH_DISTRIBUTION_SIZE_MISMATCH',
            `blob ${desc.digest} from ${this.client.registry}/${this.repo}: registry sent more than the ${desc.size} bytes the manifest says; refused`,
            { status: 502 },
          );
        }
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH_BYTES) await flush();
        const now = Date.now();
        if (isLayer && now - lastReport >= PROGRESS_INTERVAL_MS) {
          lastReport = now;
          this.progress({ id, status: 'Downloading', current: received, total: desc.size });
        }
      }
    } catch (err) {
      await flush().catch(() => {});
      await lastWrite.catch(() => {});
      if (isBerthError(err)) throw err;
      throw new TransferBroken(`blob ${desc.digest} from ${this.client.registry}/${this.repo}: connection broke after ${received} of ${desc.size} bytes (${(err as Error).message})`);
    }
    await flush();
    await lastWrite;
    if (isLayer) this.progress({ id, status: 'Downloading', current: received, total: desc.size });
    if (received < desc.size) {
      throw new TransferBroken(`blob ${desc.digest} from ${this.client.registry}/${this.repo}: download ended after ${received} of ${desc.size} bytes`);
    }
  }
}

/** A transfer that stopped early: retried with Range, and its bytes kept in ingest. */
class TransferBroken extends BerthError {
  constructor(message: string) {
    super('BERTH_DISTRIBUTION_TRUNCATED', message + '; partial data kept for resuming', { status: 502 });
  }
}

/** The registry would not resume: drop the partial data and start again. */
class RestartIngest extends BerthError {
  constructor() {
    super('BERTH_DISTRIBUTION_RESTART', 'registry does not support resuming; starting over', { status: 502 });
  }
}

/** Worth another try: a cut transfer, or what isRetryable() says. */
function isTransient(err: unknown): boolean {
  return err instanceof TransferBroken || isRetryable(err);
}

async function waitForBlob(store: ContentStore, digest: Digest, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  while (!(await store.has(digest))) {
    signal?.throwIfAborted();
    if (Date.now() > deadline) throw new BerthError('BERTH_DISTRIBUTION_TIMEOUT', `gave up waiting for another process to download ${digest}`, { status: 504 });
    await new Promise((r) => setTimeout(r, 200));
  }
}
