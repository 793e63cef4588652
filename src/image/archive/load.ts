import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { BerthError } from '../../common/errors.ts';
import { detectCompression, layerMediaType, type Compression } from '../../archive/compression.ts';
import { LocalContentStore } from '../../content/local.ts';
import { isDigest, sha256Digest } from '../../content/digest.ts';
import type { ContentStore, Digest } from '../../content/types.ts';
import {
  Annotations,
  MediaTypes,
  isIndexMediaType,
  isManifestMediaType,
  layerMediaTypeInfo,
  type Descriptor,
  type DockerArchiveManifestEntry,
  type ImageConfig,
  type ImageManifest,
  type Platform,
} from '../../oci/image-spec.ts';
import { familiarString, parseDockerRef, tagString } from '../reference.ts';
import { platformRank } from '../platform.ts';
import { withHostDefaults } from './platform.ts';
import { DEFAULT_MAX_JSON_BYTES, removeDeadStagingDirs, stageArchive, uncompressedDigest, type StagedArchive, type StagedFile } from './staging.ts';
import type { ArchiveImageStore, LoadOptions, LoadResult, LoadedImage } from './types.ts';

/**
 * `docker load`: read an image archive — docker-archive (`docker save`, any
 * version: legacy <id>/layer.tar dirs or the 25+ blobs/sha256 layout; layers
 * plain, gzip or zstd) or an OCI image layout tarball — verify every digest
 * (blob names, descriptors, diff IDs against the config), and only when the
 * whole archive checks out move its blobs into the content store and register
 * the images. A refused archive registers nothing.
 *
 * docker-archive images are stored with an OCI manifest whose layers are the
 * archive's layer files as they are (no recompression: loading stays as fast
 * as copying); OCI layouts keep their own manifests, so digests survive.
 */
export async function loadImages(store: ArchiveImageStore, source: Readable, options: LoadOptions = {}): Promise<LoadResult> {
  const parent = options.tmpDir ?? (store.content instanceof LocalContentStore ? store.content.ingestRoot : tmpdir());
  await removeDeadStagingDirs(parent);
  const staged = await stageArchive(source, parent);
  try {
    const planner = new LoadPlanner(staged, options);
    let plan: LoadPlan;
    if (staged.has('manifest.json')) plan = await planner.dockerArchive();
    else if (staged.has('index.json')) plan = await planner.ociLayout();
    else if (staged.has('repositories')) {
      throw new BerthError('BERTH_LOAD_UNSUPPORTED_FORMAT', 'image archive has only a "repositories" file (the pre-1.10 docker save format, without manifest.json), which berth does not load', { status: 400 });
    } else {
      throw new BerthError('BERTH_LOAD_UNKNOWN_FORMAT', 'image archive has neither manifest.json (docker save) nor index.json (OCI image layout)', { status: 400 });
    }
    await commitBlobs(store.content, plan.blobs);
    const images: LoadedImage[] = [];
    const loaded: string[] = [];
    for (const image of plan.images) {
      const { id } = await store.addImage({ manifest: image.manifest, tags: image.tags });
      images.push({ id, tags: image.tags });
      if (image.tags.length === 0) loaded.push(id);
      for (const tag of image.tags) loaded.push(familiarString(parseDockerRef(tag)));
    }
    return { loaded, images };
  } finally {
    await staged.remove();
  }
}

interface PlannedBlob {
  digest: Digest;
  size: number;
  file?: StagedFile;
  bytes?: Buffer;
}

interface LoadPlan {
  blobs: Map<Digest, PlannedBlob>;
  images: { manifest: Descriptor; tags: string[] }[];
}

function malformed(where: string, why: string): BerthError {
  return new BerthError('BERTH_LOAD_MALFORMED_MANIFEST', `${where}: ${why}`, { status: 400 });
}

function mismatch(what: string, expected: string, actual: string): BerthError {
  return new BerthError('BERTH_LOAD_DIGEST_MISMATCH', `${what}: expected ${expected}, the archive holds ${actual}`, { status: 400 });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class LoadPlanner {
  private readonly staged: StagedArchive;
  private readonly options: LoadOptions;
  private readonly maxJson: number;
  private readonly platform: Platform;
  private readonly blobs = new Map<Digest, PlannedBlob>();
  private readonly diffIds = new Map<string, { digest: Digest; compression: Compression }>();
  private readonly images = new Map<Digest, { manifest: Descriptor; tags: string[] }>();

  constructor(staged: StagedArchive, options: LoadOptions) {
    this.staged = staged;
    this.options = options;
    this.maxJson = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
    this.platform = withHostDefaults(options.platform);
  }

  // --- docker-archive ------------------------------------------------------

  async dockerArchive(): Promise<LoadPlan> {
    const entries = await this.staged.json<unknown>('manifest.json', 'manifest.json', this.maxJson);
    if (!Array.isArray(entries)) throw malformed('manifest.json', 'expected a JSON array of images');
    if (entries.length === 0) throw malformed('manifest.json', 'lists no images');
    for (const [i, raw] of entries.entries()) {
      const where = `manifest.json[${i}]`;
      if (!isObject(raw)) throw malformed(where, 'expected an object with Config, RepoTags and Layers');
      const entry = raw as Partial<DockerArchiveManifestEntry>;
      if (typeof entry.Config !== 'string' || entry.Config === '') throw malformed(where, 'Config must name the image config file');
      if (!Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) throw malformed(where, 'Layers must be an array of file names');
      if (entry.RepoTags != null && (!Array.isArray(entry.RepoTags) || !entry.RepoTags.every((t) => typeof t === 'string'))) {
        throw malformed(where, 'RepoTags must be null or an array of strings');
      }
      const tags = (entry.RepoTags ?? []).map((t) => this.tag(t, `${where}.RepoTags`));

      const configFile = this.staged.file(entry.Config, `${where}.Config`);
      this.checkNamedDigest(configFile, `${where}.Config`);
      const config = await this.config(configFile, `${where}.Config (${configFile.name})`);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== entry.Layers.length) {
        throw malformed(where, `lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
      }
      const layers: Descriptor[] = [];
      for (const [j, layerName] of entry.Layers.entries()) {
        const file = this.staged.file(layerName, `${where}.Layers[${j}]`);
        this.checkNamedDigest(file, `${where}.Layers[${j}]`);
        const { digest: diffId, compression } = await this.diffIdOf(file);
        if (diffId !== diffIds[j]) mismatchDiffId(`${where}.Layers[${j}] (${file.name})`, diffIds[j]!, diffId);
        layers.push({ mediaType: layerMediaType(compression), digest: file.digest, size: file.size });
        this.addFile(file);
        this.progress(diffId, file.size);
      }
      this.addFile(configFile);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configFile.digest, size: configFile.size },
        layers,
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      const digest = sha256Digest(bytes);
      this.blobs.set(digest, { digest, size: bytes.length, bytes });
      this.addImage({ mediaType: MediaTypes.ociManifest, digest, size: bytes.length }, tags);
    }
    return { blobs: this.blobs, images: [...this.images.values()] };
  }

  // --- OCI image layout ----------------------------------------------------

  async ociLayout(): Promise<LoadPlan> {
    if (!this.staged.has('oci-layout')) throw malformed('OCI image layout', 'the "oci-layout" file is missing');
    const layout = await this.staged.json<unknown>('oci-layout', 'oci-layout', this.maxJson);
    if (!isObject(layout) || typeof layout.imageLayoutVersion !== 'string') throw malformed('oci-layout', 'expected {"imageLayoutVersion": "1.0.0"}');
    const index = await this.staged.json<unknown>('index.json', 'index.json', this.maxJson);
    if (!isObject(index) || index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw malformed('index.json', 'expected an OCI image index (schemaVersion 2 with a manifests array)');
    }
    if (index.manifests.length === 0) throw malformed('index.json', 'lists no images');
    for (const [i, raw] of (index.manifests as unknown[]).entries()) {
      const where = `index.json manifests[${i}]`;
      const desc = this.descriptor(raw, where);
      const tags = this.ociTags(desc, where);
      let manifestDesc = desc;
      if (isIndexMediaType(desc.mediaType)) {
        manifestDesc = await this.selectFromIndex(desc, where);
      } else if (!isManifestMediaType(desc.mediaType)) {
        throw new BerthError('BERTH_LOAD_UNKNOWN_MEDIA_TYPE', `${where}: media type "${desc.mediaType}" is neither an image manifest nor an index`, { status: 400 });
      }
      await this.ociImage(manifestDesc, where);
      this.addImage({ mediaType: manifestDesc.mediaType, digest: manifestDesc.digest, size: manifestDesc.size }, tags);
    }
    return { blobs: this.blobs, images: [...this.images.values()] };
  }

  private async selectFromIndex(desc: Descriptor, where: string): Promise<Descriptor> {
    const file = this.blobFile(desc, where);
    const index = await this.staged.json<unknown>(file.name, where, this.maxJson);
    if (!isObject(index) || !Array.isArray(index.manifests)) throw malformed(`${where} (${file.name})`, 'expected an image index with a manifests array');
    const candidates = (index.manifests as unknown[]).map((m, k) => this.descriptor(m, `${where} → manifests[${k}]`));
    const want = this.platform;
    // Best match as containerd ranks them (amd64 also runs 386, arm64 runs arm/v8…).
    const ranked = candidates
      .map((m) => ({ m, rank: isManifestMediaType(m.mediaType) && m.platform ? platformRank(want, m.platform) : undefined }))
      .filter((c): c is { m: Descriptor; rank: number } => c.rank !== undefined)
      .sort((a, b) => a.rank - b.rank);
    const match = ranked[0]?.m;
    if (!match) {
      const have = candidates.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? '/' + m.platform.variant : ''}` : 'unknown')).join(', ');
      throw new BerthError('BERTH_LOAD_NO_MATCHING_PLATFORM', `${where}: no image for ${want.os}/${want.architecture} in the index (it has: ${have || 'nothing'})`, { status: 400 });
    }
    return match;
  }

  private async ociImage(desc: Descriptor, where: string): Promise<void> {
    const file = this.blobFile(desc, `${where} manifest`);
    const manifest = await this.staged.json<unknown>(file.name, `${where} manifest`, this.maxJson);
    const mwhere = `${where} manifest ${desc.digest}`;
    if (!isObject(manifest) || manifest.schemaVersion !== 2) throw malformed(mwhere, 'expected schemaVersion 2');
    if (!isObject(manifest.config)) throw malformed(mwhere, 'has no config descriptor');
    if (!Array.isArray(manifest.layers)) throw malformed(mwhere, 'has no layers array');
    const configDesc = this.descriptor(manifest.config, `${mwhere} config`);
    const configFile = this.blobFile(configDesc, `${mwhere} config`);
    const config = await this.config(configFile, `${mwhere} config`);
    const layers = (manifest.layers as unknown[]).map((l, j) => this.descriptor(l, `${mwhere} layers[${j}]`));
    if (layers.length !== config.rootfs.diff_ids.length) {
      throw malformed(mwhere, `has ${layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    for (const [j, layer] of layers.entries()) {
      const lwhere = `${mwhere} layers[${j}]`;
      if (!layerMediaTypeInfo(layer.mediaType)) {
        throw new BerthError('BERTH_LOAD_UNKNOWN_MEDIA_TYPE', `${lwhere}: unknown layer media type "${layer.mediaType}"`, { status: 400 });
      }
      const layerFile = this.blobFile(layer, lwhere);
      const { digest: diffId } = await this.diffIdOf(layerFile);
      if (diffId !== config.rootfs.diff_ids[j]) mismatchDiffId(lwhere, config.rootfs.diff_ids[j]!, diffId);
      this.addFile(layerFile);
      this.progress(diffId, layerFile.size);
    }
    this.addFile(configFile);
    this.addFile(file);
  }

  /** Full tag from an index entry's annotations: containerd's image name, or a ref.name that is a whole reference. */
  private ociTags(desc: Descriptor, where: string): string[] {
    const annotations = desc.annotations ?? {};
    const full = annotations[Annotations.containerdImageName];
    if (full) return [this.tag(full, `${where} annotation ${Annotations.containerdImageName}`)];
    const refName = annotations[Annotations.refName];
    // A bare ref.name ("latest", "v1") is only a tag inside the layout: there is no repository to give it.
    if (refName && /[/:]/.test(refName)) return [this.tag(refName, `${where} annotation ${Annotations.refName}`)];
    return [];
  }

  // --- shared checks -------------------------------------------------------

  private descriptor(raw: unknown, where: string): Descriptor {
    if (!isObject(raw)) throw malformed(where, 'expected a descriptor object');
    if (typeof raw.mediaType !== 'string') throw malformed(where, 'descriptor has no mediaType');
    if (!isDigest(raw.digest)) throw malformed(where, `descriptor digest ${JSON.stringify(raw.digest)} is not "sha256:<64 hex>"`);
    if (typeof raw.size !== 'number' || !Number.isSafeInteger(raw.size) || raw.size < 0) throw malformed(where, 'descriptor size must be a non-negative integer');
    return raw as unknown as Descriptor;
  }

  /** The blob a descriptor names, verified by digest and size. */
  private blobFile(desc: Descriptor, where: string): StagedFile {
    const file = this.staged.file(`blobs/sha256/${desc.digest.slice(7)}`, where);
    if (file.digest !== desc.digest) throw mismatch(`${where}: blob ${file.name}`, desc.digest, `content with digest ${file.digest}`);
    if (file.size !== desc.size) {
      throw new BerthError('BERTH_LOAD_SIZE_MISMATCH', `${where}: blob ${file.name} is ${file.size} bytes, the descriptor says ${desc.size}`, { status: 400 });
    }
    return file;
  }

  /** A file named by its digest (blobs/sha256/<hex>, <hex>.json) must hash to that digest. */
  private checkNamedDigest(file: StagedFile, where: string): void {
    const m = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(file.name);
    if (m && `sha256:${m[1]}` !== file.digest) throw mismatch(`${where}: ${file.name}`, `sha256:${m[1]}`, `content with digest ${file.digest}`);
  }

  private async config(file: StagedFile, where: string): Promise<ImageConfig> {
    const config = await this.staged.json<unknown>(file.name, where, this.maxJson);
    if (!isObject(config)) throw malformed(where, 'the image config is not a JSON object');
    const rootfs = config.rootfs;
    if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every(isDigest)) {
      throw malformed(where, 'the image config has no valid rootfs.diff_ids');
    }
    if (typeof config.architecture !== 'string' || typeof config.os !== 'string') throw malformed(where, 'the image config has no os/architecture');
    return config as unknown as ImageConfig;
  }

  private async diffIdOf(file: StagedFile): Promise<{ digest: Digest; compression: Compression }> {
    const cached = this.diffIds.get(file.path);
    if (cached) return cached;
    const compression = detectCompression(await readHead(file.path, 4));
    const result = compression === 'none' ? { digest: file.digest, compression } : { digest: (await uncompressedDigest(file.path)).digest, compression };
    this.diffIds.set(file.path, result);
    return result;
  }

  private tag(text: string, where: string): string {
    try {
      const ref = parseDockerRef(text);
      if (ref.tag === undefined) throw new Error('a digest reference is not a tag');
      return tagString(ref as typeof ref & { tag: string });
    } catch (err) {
      throw new BerthError('BERTH_LOAD_INVALID_TAG', `${where}: ${JSON.stringify(text)} is not a valid image tag: ${(err as Error).message}`, { status: 400 });
    }
  }

  private addFile(file: StagedFile): void {
    if (!this.blobs.has(file.digest)) this.blobs.set(file.digest, { digest: file.digest, size: file.size, file });
  }

  private addImage(manifest: Descriptor, tags: string[]): void {
    const existing = this.images.get(manifest.digest);
    if (existing) {
      for (const t of tags) if (!existing.tags.includes(t)) existing.tags.push(t);
    } else {
      this.images.set(manifest.digest, { manifest, tags: [...new Set(tags)] });
    }
  }

  private progress(diffId: Digest, size: number): void {
    this.options.onProgress?.({ id: diffId.slice(7, 19), status: 'Loading layer', current: size, total: size });
  }
}

function mismatchDiffId(where: string, expected: Digest, actual: Digest): never {
  throw mismatch(`${where}: uncompressed layer digest (diff ID)`, expected, actual);
}

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Move verified staged files into the store (rename when it is a local store on the same filesystem). */
async function commitBlobs(content: ContentStore, blobs: Map<Digest, PlannedBlob>): Promise<void> {
  for (const blob of blobs.values()) {
    if (await content.has(blob.digest)) continue;
    if (blob.bytes) {
      await content.writeBytes(blob.bytes, { digest: blob.digest, size: blob.size });
    } else if (blob.file && content instanceof LocalContentStore) {
      const fh = await open(blob.file.path, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await content.moveIn(blob.file.path, blob.digest, blob.size);
    } else if (blob.file) {
      await content.write(createReadStream(blob.file.path, { highWaterMark: 1 << 20 }), { digest: blob.digest, size: blob.size });
    }
  }
}
