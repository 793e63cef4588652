import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeTar, type TarWriteEntry } from '../../archive/tar.ts';
import { BerthError } from '../../common/errors.ts';
import { decompressStream } from '../../archive/compression.ts';
import type { ContentStore, Digest } from '../../content/types.ts';
import {
  Annotations,
  MediaTypes,
  OCI_LAYOUT_VERSION,
  isManifestMediaType,
  layerMediaTypeInfo,
  type Descriptor,
  type DockerArchiveManifestEntry,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from '../../oci/image-spec.ts';
import { familiarName, familiarString, parseDockerRef, parseReference } from '../reference.ts';
import type { ArchiveImageStore, SaveOptions } from './types.ts';

/**
 * `docker save`, in two formats:
 *
 * - 'docker' — the layout docker 25+ writes, which every docker-archive
 *   reader (docker 20.10's load, podman/skopeo docker-archive:, containerd)
 *   and every OCI layout reader understands at once:
 *     blobs/sha256/<hex>   layers UNCOMPRESSED (digest = diff ID), configs, OCI manifests
 *     index.json           one entry per tag (io.containerd.image.name + ref.name annotations)
 *     manifest.json        [{Config: "blobs/sha256/<config>", RepoTags, Layers: ["blobs/sha256/<diffid>"]}]
 *     oci-layout, repositories
 *   Compressed layers are decompressed into a scratch file first because a
 *   tar header needs the size before the body.
 * - 'oci' — an OCI image layout tarball with blobs exactly as stored
 *   (compressed layers, the original manifest, so digests are kept).
 *
 * Every entry has mtime 0 and fixed modes, so saving the same images twice
 * gives the same bytes. Unknown images fail before any byte is produced.
 */
export async function saveImages(store: ArchiveImageStore, refs: string[], options: SaveOptions = {}): Promise<Readable> {
  if (refs.length === 0) throw new BerthError('BERTH_SAVE_NO_IMAGES', 'save needs at least one image name or ID', { status: 400 });
  const images = await collectImages(store, refs);
  const format = options.format ?? 'docker';
  if (format !== 'docker' && format !== 'oci') {
    throw new BerthError('BERTH_SAVE_INVALID_FORMAT', `unknown save format "${String(format)}": use "docker" or "oci"`, { status: 400 });
  }
  const writer = new ArchiveWriter(store.content, options.tmpDir ?? tmpdir());
  return Readable.from(writeTar(format === 'docker' ? writer.docker(images) : writer.oci(images)), { objectMode: false });
}

interface SavedImage {
  id: Digest;
  manifestDescriptor: Descriptor;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  configBytes: Buffer;
  config: ImageConfig;
  /** Full normalised tags requested for this image (docker.io/library/busybox:latest). */
  tags: string[];
}

async function collectImages(store: ArchiveImageStore, refs: string[]): Promise<SavedImage[]> {
  const byId = new Map<Digest, SavedImage>();
  for (const ref of refs) {
    const resolved = await store.resolveImage(ref);
    // A name saves that tag; an ID (or digest reference) saves the image untagged, as docker does.
    let tag: string | undefined;
    try {
      const parsed = parseDockerRef(ref);
      if (parsed.tag !== undefined && parsed.digest === undefined) {
        const full = `${parsed.domain}/${parsed.path}:${parsed.tag}`;
        if (resolved.repoTags.includes(full)) tag = full;
      }
    } catch {
      /* an ID, not a name */
    }
    let image = byId.get(resolved.id);
    if (!image) {
      if (!isManifestMediaType(resolved.manifest.mediaType)) {
        throw new BerthError('BERTH_SAVE_NOT_AN_IMAGE', `${ref}: resolves to a ${resolved.manifest.mediaType}, not an image manifest`, { status: 400 });
      }
      const manifestBytes = await store.content.readBytes(resolved.manifest.digest);
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
      const configBytes = await store.content.readBytes(manifest.config.digest);
      const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new BerthError('BERTH_SAVE_CORRUPT_IMAGE', `${ref}: manifest has ${manifest.layers.length} layers, config has ${config.rootfs.diff_ids.length} diff_ids`);
      }
      for (const layer of manifest.layers) {
        if (!(await store.content.has(layer.digest))) {
          throw new BerthError('BERTH_SAVE_MISSING_LAYER', `${ref}: layer ${layer.digest} is not in the content store`, { status: 404 });
        }
      }
      image = { id: resolved.id, manifestDescriptor: resolved.manifest, manifestBytes, manifest, configBytes, config, tags: [] };
      byId.set(resolved.id, image);
    }
    if (tag && !image.tags.includes(tag)) image.tags.push(tag);
  }
  return [...byId.values()];
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

function header(name: string, type: 'file' | 'dir', size: number): TarWriteEntry['header'] {
  return { name, type, mode: type === 'dir' ? DIR_MODE : FILE_MODE, uid: 0, gid: 0, size, mtime: 0, linkname: '', devmajor: 0, devminor: 0 };
}

/** Produces the archive's entries lazily, so the first bytes flow before the last layer is read. */
class ArchiveWriter {
  private readonly content: ContentStore;
  private readonly tmpParent: string;
  private readonly written = new Set<string>();

  constructor(content: ContentStore, tmpParent: string) {
    this.content = content;
    this.tmpParent = tmpParent;
  }

  async *docker(images: SavedImage[]): AsyncGenerator<TarWriteEntry> {
    yield { header: header('blobs/', 'dir', 0) };
    yield { header: header('blobs/sha256/', 'dir', 0) };
    const scratch = await mkdtemp(join(this.tmpParent, 'berth-save-'));
    try {
      const entries: DockerArchiveManifestEntry[] = [];
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
      const repositories: Record<string, Record<string, string>> = {};
      const layerSizes = new Map<Digest, number>();
      for (const image of images) {
        const layerPaths: string[] = [];
        const layers: Descriptor[] = [];
        for (const [i, layer] of image.manifest.layers.entries()) {
          const diffId = image.config.rootfs.diff_ids[i]!;
          let size = layerSizes.get(diffId);
          if (size === undefined) {
            const entry = await this.uncompressedLayer(layer, diffId, scratch);
            size = entry.header.size;
            layerSizes.set(diffId, size);
            yield entry;
          }
          layerPaths.push(blobPath(diffId));
          layers.push({ mediaType: MediaTypes.ociLayerTar, digest: diffId, size });
        }
        yield* this.bytes(blobPath(image.id), image.configBytes);
        const manifest: ImageManifest = {
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: image.manifest.config.digest, size: image.configBytes.length },
          layers,
        };
        const manifestBytes = Buffer.from(JSON.stringify(manifest));
        const manifestDigest: Digest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
        yield* this.bytes(blobPath(manifestDigest), manifestBytes);
        const descriptor: Descriptor = { mediaType: MediaTypes.ociManifest, digest: manifestDigest, size: manifestBytes.length };
        index.manifests.push(...indexEntries(descriptor, image.tags));
        entries.push({
          Config: blobPath(image.id),
          RepoTags: image.tags.length ? image.tags.map((t) => familiarString(parseReference(t))) : null,
          Layers: layerPaths,
        });
        const top = image.config.rootfs.diff_ids.at(-1);
        for (const tag of image.tags) {
          const ref = parseReference(tag);
          if (top && ref.tag) (repositories[familiarName(ref)] ??= {})[ref.tag] = top.slice(7);
        }
      }
      yield* this.bytes('index.json', Buffer.from(JSON.stringify(index)));
      yield* this.bytes('manifest.json', Buffer.from(JSON.stringify(entries)));
      yield* this.bytes('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
      if (Object.keys(repositories).length) yield* this.bytes('repositories', Buffer.from(JSON.stringify(repositories)));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async *oci(images: SavedImage[]): AsyncGenerator<TarWriteEntry> {
    yield { header: header('blobs/', 'dir', 0) };
    yield { header: header('blobs/sha256/', 'dir', 0) };
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
    for (const image of images) {
      for (const layer of image.manifest.layers) yield* this.blob(layer.digest, layer.size);
      yield* this.bytes(blobPath(image.manifest.config.digest), image.configBytes);
      yield* this.bytes(blobPath(image.manifestDescriptor.digest), image.manifestBytes);
      const descriptor: Descriptor = {
        mediaType: image.manifest.mediaType ?? image.manifestDescriptor.mediaType,
        digest: image.manifestDescriptor.digest,
        size: image.manifestBytes.length,
      };
      index.manifests.push(...indexEntries(descriptor, image.tags));
    }
    yield* this.bytes('index.json', Buffer.from(JSON.stringify(index)));
    yield* this.bytes('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
  }

  /**
   * A layer as an uncompressed tar blob named by its diff ID. A compressed
   * layer is decompressed into a scratch file first (the tar header needs the
   * size), and the diff ID is verified on the way.
   */
  private async uncompressedLayer(layer: Descriptor, diffId: Digest, scratch: string): Promise<TarWriteEntry> {
    const path = blobPath(diffId);
    this.written.add(path);
    // An uncompressed layer is its own diff ID: stream it straight from the store.
    if (layerMediaTypeInfo(layer.mediaType)?.compression === 'none' && layer.digest === diffId) {
      await this.checkSize(layer.digest, layer.size);
      return { header: header(path, 'file', layer.size), body: () => this.content.read(layer.digest) };
    }
    const file = join(scratch, diffId.slice(7));
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    // The bytes decide the codec (a mislabelled layer still saves right); the diff ID check below catches the rest.
    const { stream } = await decompressStream(this.content.read(layer.digest), { mediaType: layer.mediaType });
    await pipeline(stream, counter, createWriteStream(file));
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== diffId) {
      throw new BerthError('BERTH_SAVE_CORRUPT_IMAGE', `layer ${layer.digest} decompresses to ${actual}, but the image config says ${diffId}`);
    }
    return {
      header: header(path, 'file', size),
      body: async function* () {
        try {
          yield* createReadStream(file, { highWaterMark: 1 << 20 });
        } finally {
          await rm(file, { force: true });
        }
      },
    };
  }

  private async checkSize(digest: Digest, size: number): Promise<void> {
    const info = await this.content.info(digest);
    if (!info) throw new BerthError('BERTH_SAVE_MISSING_LAYER', `blob ${digest} is not in the content store`, { status: 404 });
    if (info.size !== size) {
      throw new BerthError('BERTH_SAVE_CORRUPT_IMAGE', `blob ${digest} is ${info.size} bytes in the store, its descriptor says ${size}`);
    }
  }

  private async *blob(digest: Digest, size: number): AsyncGenerator<TarWriteEntry> {
    const path = blobPath(digest);
    if (this.written.has(path)) return;
    this.written.add(path);
    await this.checkSize(digest, size);
    yield { header: header(path, 'file', size), body: () => this.content.read(digest) };
  }

  private *bytes(name: string, data: Buffer): Generator<TarWriteEntry> {
    if (this.written.has(name)) return;
    this.written.add(name);
    yield { header: header(name, 'file', data.length), body: (async function* () { yield data; })() };
  }
}

function blobPath(digest: Digest): string {
  return `blobs/sha256/${digest.slice(7)}`;
}

/** One index entry per tag (containerd's full name + the OCI ref.name tag), or one bare entry for an untagged image. */
function indexEntries(descriptor: Descriptor, tags: string[]): Descriptor[] {
  if (tags.length === 0) return [descriptor];
  return tags.map((tag) => {
    const ref = parseReference(tag);
    return {
      ...descriptor,
      annotations: { [Annotations.containerdImageName]: tag, [Annotations.refName]: ref.tag ?? 'latest' },
    };
  });
}
