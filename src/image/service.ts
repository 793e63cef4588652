import { join } from 'node:path';
import { BerthError, isBerthError } from '../common/errors.ts';
import type { ProgressSink } from '../common/progress.ts';
import { shortDigest } from '../content/digest.ts';
import { LocalContentStore } from '../content/local.ts';
import type { Digest } from '../content/types.ts';
import { pullImage, pushImage } from '../distribution/index.ts';
import type { Credentials } from '../distribution/types.ts';
import type { ContainerConfig, Descriptor, HistoryEntry, ImageConfig, Platform } from '../oci/image-spec.ts';
import { openSnapshotter } from '../snapshot/open.ts';
import { unpackImage } from '../snapshot/layers.ts';
import { pullAndUnpack } from './pull-pipeline.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import type { ArchiveImageStore, ResolvedImage } from './archive/types.ts';
import { chainIds, topChainId } from './chain-id.ts';
import { collectGarbage, type GcResult, type SnapshotCatalog } from './gc.ts';
import { assertImageManifest, parseImageConfig, parseManifest } from './manifest.ts';
import { assertConfigPlatform, hostPlatform, parsePlatform, platformMatches } from './platform.ts';
import {
  digestString,
  familiarString,
  parseDockerRef,
  parseReference,
  referenceName,
  tagString,
  type ImageReference,
} from './reference.ts';
import { RwLock } from './rw-lock.ts';
import { ImageStore, type ImageRecord } from './store.ts';

/**
 * ImageService: the one façade the Engine API and the CLI call for images.
 * It owns the content store (<dataRoot>/content, ingest in <dataRoot>/ingest),
 * the image database (<dataRoot>/image) and, unless told otherwise, the
 * snapshotter (<dataRoot>/snapshots) that layers are unpacked into.
 *
 * Results are domain types (not Docker JSON): names are shown in familiar
 * form (busybox:latest), times are ISO strings or Unix seconds as documented
 * per field, sizes are bytes. The API layer maps them onto Docker's wire
 * shapes.
 */

/** Partial ingests untouched this long are dropped by gc/prune. */
const ABANDONED_INGEST_MS = 24 * 3600_000;

export interface ImageServiceOptions {
  /** Registries (host[:port]) where plain HTTP is allowed besides loopback. */
  insecureRegistries?: readonly string[];
  /** The snapshotter to unpack layers into; default: opened under the data root. `null`: never unpack. */
  snapshotter?: Snapshotter | null;
  /** docker config.json for registry credentials (default ~/.docker/config.json). */
  dockerConfigPath?: string;
  /** Containers using an image; used for rmi conflicts, prune and the Containers count. */
  containersUsing?: ContainersUsing;
  /**
   * Layer chains in use outside the snapshotter's own parent links (a
   * container's rootfs snapshot on top of a chain already pins it). GC never
   * removes these or their parents.
   */
  chainIdsInUse?: (chainId: Digest) => boolean | Promise<boolean>;
}

/** Which containers use image `id`. `running` decides whether even `force` may not remove it. */
export type ContainersUsing = (id: Digest) => Promise<Array<{ id: string; running: boolean }>> | Array<{ id: string; running: boolean }>;

export interface PullImageOptions {
  /** "os/arch[/variant]" (docker's --platform). */
  platform?: string;
  /** undefined: from the docker config file; null: anonymous. */
  auth?: Credentials | null;
  onProgress?: ProgressSink;
  insecureRegistries?: readonly string[];
  signal?: AbortSignal;
}

export interface PullImageResult {
  id: Digest;
  /** Familiar reference pulled ("busybox:latest"). */
  reference: string;
  /** Digest of what the reference resolved to (index or manifest). */
  digest: Digest;
  /** Docker's closing line: "Downloaded newer image for busybox:latest" or "Image is up to date for busybox:latest". */
  status: string;
}

export interface PushImageOptions {
  auth?: Credentials | null;
  onProgress?: ProgressSink;
  insecureRegistries?: readonly string[];
  signal?: AbortSignal;
}

export interface PushImageResult {
  /** Familiar reference pushed. */
  reference: string;
  tag?: string;
  digest: Digest;
  size: number;
}

/** Docker's /images/json filters: name → values. */
export type ImageFilters = Record<string, string[]>;

export interface ImageSummary {
  id: Digest;
  /** Familiar form ("busybox:latest"); empty for untagged images. */
  repoTags: string[];
  repoDigests: string[];
  /** Parent image ID or "". */
  parentId: string;
  /** Unix seconds (from the config's created). */
  created: number;
  size: number;
  labels: Record<string, string>;
  /** Containers using the image, or -1 when not known. */
  containers: number;
}

export interface ImageDetails {
  id: Digest;
  repoTags: string[];
  repoDigests: string[];
  parent: string;
  comment: string;
  /** ISO 8601 from the config, or "" if absent. */
  created: string;
  dockerVersion: string;
  author: string;
  config: ContainerConfig;
  containerConfig?: ContainerConfig;
  architecture: string;
  os: string;
  variant?: string;
  osVersion?: string;
  size: number;
  rootfs: { type: 'layers'; diffIds: Digest[] };
  history: HistoryEntry[];
  labels: Record<string, string>;
  /** ISO 8601, when a tag was last added. */
  lastTagTime?: string;
  /** The manifest(s) the image is stored under. */
  manifests: Descriptor[];
  /** Chain ID of the top layer: the snapshot to prepare containers on. */
  chainId?: Digest;
  /** Containers using the image, or -1 when not known. */
  containers: number;
}

export interface ImageHistoryItem {
  /** The image ID for the top entry (and entries of local parent images), else "<missing>". */
  id: string;
  /** Unix seconds. */
  created: number;
  createdBy: string;
  /** Familiar tags, on the entry that is the image itself. */
  tags: string[];
  /** Bytes this step added (0 for empty layers). */
  size: number;
  comment: string;
}

export type RemoveItem = { Untagged: string } | { Deleted: string };

export interface RemoveOptions {
  force?: boolean;
  /** Keep untagged parent images (docker rmi --no-prune). */
  noPrune?: boolean;
}

export interface PruneOptions {
  /** Remove all images without containers, not only dangling ones. */
  all?: boolean;
  filters?: ImageFilters;
}

export interface PruneResult {
  deleted: RemoveItem[];
  spaceReclaimed: number;
}

export interface AddImageInput {
  /** A single-platform manifest already in the content store, with its config and layers. */
  manifest: Descriptor;
  /** Full or familiar references to tag the image with (tags elsewhere move here, as with docker load). */
  tags?: string[];
  /** The index it was chosen from, when there is one. */
  index?: Descriptor;
  /** Digest references (name@sha256:…) to record. */
  digests?: string[];
  parent?: Digest;
  onProgress?: ProgressSink;
}

/** What a container needs to be created from an image. */
export interface ImageForContainer {
  id: Digest;
  config: ImageConfig;
  /** Snapshot key (chain ID) to prepare the container's rootfs on; undefined for an image without layers. */
  chainId?: Digest;
  /** Familiar first tag, or the ID. */
  name: string;
}

export class ImageService implements ArchiveImageStore {
  readonly dataRoot: string;
  readonly content: LocalContentStore;
  readonly images: ImageStore;
  readonly snapshotter: Snapshotter | undefined;
  private readonly options: ImageServiceOptions;
  private containersUsing: ContainersUsing | undefined;
  private chainIdsInUse: ((chainId: Digest) => boolean | Promise<boolean>) | undefined;
  private readonly gcLock = new RwLock();
  /** An rmi freed content while pulls were running; sweep once they are done. */
  private gcPending = false;
  private readonly configCache = new Map<Digest, ImageConfig>();

  private constructor(dataRoot: string, content: LocalContentStore, images: ImageStore, snapshotter: Snapshotter | undefined, options: ImageServiceOptions) {
    this.dataRoot = dataRoot;
    this.content = content;
    this.images = images;
    this.snapshotter = snapshotter;
    this.options = options;
    this.containersUsing = options.containersUsing;
    this.chainIdsInUse = options.chainIdsInUse;
  }

  static async open(dataRoot: string, options: ImageServiceOptions = {}): Promise<ImageService> {
    const content = await LocalContentStore.open(join(dataRoot, 'content'), { ingestRoot: join(dataRoot, 'ingest') });
    const images = await ImageStore.open(join(dataRoot, 'image'), { ociIndexPath: join(dataRoot, 'content', 'index.json') });
    const snapshotter = options.snapshotter === null ? undefined : (options.snapshotter ?? (await openSnapshotter({ dataRoot })));
    return new ImageService(dataRoot, content, images, snapshotter, options);
  }

  /** Set later by the container service (which is created after this one). */
  setContainersUsing(fn: ContainersUsing): void {
    this.containersUsing = fn;
  }

  /** Set later by the container service: chain IDs its containers use (see ImageServiceOptions.chainIdsInUse). */
  setChainIdsInUse(fn: (chainId: Digest) => boolean | Promise<boolean>): void {
    this.chainIdsInUse = fn;
  }

  // --- pull / push ------------------------------------------------------------

  async pull(reference: string, options: PullImageOptions = {}): Promise<PullImageResult> {
    const ref = parseDockerRef(reference);
    const progress = options.onProgress ?? (() => {});
    const platformSpec = options.platform ? parsePlatform(options.platform) : undefined;
    return this.lease(async () => {
      const before = this.images.tryResolve(storedName(ref));
      const pullOptions = {
        reference: ref,
        store: this.content,
        ...(options.platform ? { platform: options.platform } : {}),
        progress,
        ...(options.auth !== undefined ? { credentials: options.auth } : {}),
        ...(this.options.dockerConfigPath ? { configPath: this.options.dockerConfigPath } : {}),
        insecureRegistries: [...(this.options.insecureRegistries ?? []), ...(options.insecureRegistries ?? [])],
        ...(options.signal ? { signal: options.signal } : {}),
      };
      // With a snapshotter, layers are unpacked while the rest still downloads (pull-pipeline.ts).
      const result = this.snapshotter
        ? (await pullAndUnpack({ ...pullOptions, snapshotter: this.snapshotter })).pull
        : await pullImage(pullOptions);
      const id = result.configDescriptor.digest;
      const config = await this.readConfig(id);
      assertImageManifest(result.manifest, `${familiarString(ref)} manifest`);
      if (platformSpec && !result.indexDescriptor) assertConfigPlatform(config, platformSpec, familiarString(ref));
      const manifest: Descriptor = { ...result.manifestDescriptor };
      if (!manifest.platform) manifest.platform = configPlatformOf(config);
      const rec = await this.register({
        id,
        manifest,
        ...(result.indexDescriptor ? { index: stripDescriptor(result.indexDescriptor) } : {}),
        tags: ref.tag !== undefined ? [tagString(ref as ImageReference & { tag: string })] : [],
        digests: [digestString({ ...ref, digest: result.digest })],
        config,
        layers: result.manifest.layers,
        progress,
        unpacked: true,
      });
      const shown = familiarString(ref);
      const upToDate = before?.id === rec.id;
      const status = upToDate ? `Image is up to date for ${shown}` : `Downloaded newer image for ${shown}`;
      progress({ id: '', status: `Digest: ${result.digest}` });
      progress({ id: '', status: `Status: ${status}` });
      return { id: rec.id, reference: shown, digest: result.digest, status };
    });
  }

  async push(reference: string, options: PushImageOptions = {}): Promise<PushImageResult> {
    const ref = parseDockerRef(reference);
    const rec = this.images.resolve(familiarString(ref));
    const manifest = this.pickManifest(rec);
    const progress = options.onProgress ?? (() => {});
    const name = referenceName(ref);
    // Other repositories on the same registry that hold this image's blobs: the registry can mount from them.
    const sameRegistryRepos = [...rec.repoTags, ...rec.repoDigests]
      .map((r) => parseReference(r))
      .filter((r) => r.domain === ref.domain && referenceName(r) !== name)
      .map((r) => r.path);
    // Shared GC lock: the blobs being sent cannot be swept mid-push even if the image is removed meanwhile.
    const result = await this.lease(async () => {
      const pushed = await pushImage({
      reference: ref,
      store: this.content,
      manifestDescriptor: stripDescriptor(manifest.manifest),
      progress,
      ...(options.auth !== undefined ? { credentials: options.auth } : {}),
      ...(this.options.dockerConfigPath ? { configPath: this.options.dockerConfigPath } : {}),
      insecureRegistries: [...(this.options.insecureRegistries ?? []), ...(options.insecureRegistries ?? [])],
      mountCandidates: () => [...new Set(sameRegistryRepos)],
      ...(options.signal ? { signal: options.signal } : {}),
      });
      // Record the repo digest, unless the image was removed while it was being pushed.
      if (this.images.get(rec.id)) await this.images.add({ id: rec.id, manifest: manifest.manifest, digests: [digestString({ ...ref, digest: pushed.digest })] });
      return pushed;
    });
    const tag = ref.tag;
    progress({ id: '', status: `${tag ?? ''}${tag ? ': ' : ''}digest: ${result.digest} size: ${result.size}` });
    return { reference: familiarString(ref), ...(tag ? { tag } : {}), digest: result.digest, size: result.size };
  }

  // --- registering images (pull, load, import, build, commit) -----------------

  /**
   * Register an image whose manifest, config and layers are in the content
   * store: validate them, unpack the layers into snapshots, record it and its
   * tags. The entry point for the archive code (load/import) and the builder.
   */
  async addImage(input: AddImageInput): Promise<{ id: Digest }> {
    return this.lease(async () => {
      const bytes = await this.content.readBytes(input.manifest.digest);
      const parsed = parseManifest(bytes, input.manifest.mediaType);
      if (parsed.kind !== 'manifest') {
        throw new BerthError('BERTH_IMAGE_NOT_A_MANIFEST', `${input.manifest.digest} is an index; register the platform manifest chosen from it`, { status: 400 });
      }
      assertImageManifest(parsed.manifest, `manifest ${input.manifest.digest}`);
      const id = parsed.manifest.config.digest;
      for (const d of [id, ...parsed.manifest.layers.map((l) => l.digest)]) {
        if (!(await this.content.has(d))) {
          throw new BerthError('BERTH_IMAGE_INCOMPLETE', `image ${id}: blob ${d} named by manifest ${input.manifest.digest} is not in the content store`, { status: 400 });
        }
      }
      const config = await this.readConfig(id);
      const manifest: Descriptor = stripDescriptor(input.manifest);
      manifest.platform = input.manifest.platform ?? configPlatformOf(config);
      const rec = await this.register({
        id,
        manifest,
        ...(input.index ? { index: stripDescriptor(input.index) } : {}),
        tags: input.tags ?? [],
        digests: input.digests ?? [],
        ...(input.parent ? { parent: input.parent } : {}),
        config,
        layers: parsed.manifest.layers,
        progress: input.onProgress ?? (() => {}),
      });
      return { id: rec.id };
    });
  }

  /** ArchiveImageStore: the image and manifest `docker save` writes for a name or ID. */
  async resolveImage(nameOrId: string): Promise<ResolvedImage> {
    const rec = this.images.resolve(nameOrId);
    return { id: rec.id, manifest: stripDescriptor(this.pickManifest(rec).manifest), repoTags: rec.repoTags };
  }

  private async register(r: {
    id: Digest;
    manifest: Descriptor;
    index?: Descriptor;
    tags: string[];
    digests: string[];
    parent?: Digest;
    config: ImageConfig;
    layers: Descriptor[];
    progress: ProgressSink;
    /** The layers are already unpacked into their chain snapshots (a pipelined pull did it). */
    unpacked?: boolean;
  }): Promise<ImageRecord> {
    const diffIds = r.config.rootfs.diff_ids;
    if (diffIds.length !== r.layers.length) {
      throw new BerthError('BERTH_IMAGE_LAYER_MISMATCH', `image ${r.id}: manifest has ${r.layers.length} layers but the config lists ${diffIds.length} diff_ids`, { status: 400 });
    }
    let size = r.layers.reduce((sum, l) => sum + l.size, 0);
    if (this.snapshotter && r.layers.length > 0) {
      if (!r.unpacked) await unpackImage({
        snapshotter: this.snapshotter,
        store: this.content,
        layers: r.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]! })),
        onProgress: r.progress,
      });
      size = await this.unpackedSize(diffIds);
    }
    return this.images.add({
      id: r.id,
      manifest: r.manifest,
      ...(r.index ? { index: r.index } : {}),
      tags: r.tags,
      digests: r.digests,
      ...(r.parent ? { parent: r.parent } : {}),
      size,
    });
  }

  /** Bytes of the image's unpacked layers (what `docker images` shows as SIZE). */
  private async unpackedSize(diffIds: Digest[]): Promise<number> {
    // Each layer measured at once (du per layer); only the first measurement walks the tree, it is kept in the snapshot's metadata.
    const sizes = await Promise.all(chainIds(diffIds).map(async (chainId) => (await this.snapshotter!.usage(chainId)).size));
    return sizes.reduce((a, b) => a + b, 0);
  }

  /**
   * Make sure the image's layers are unpacked (e.g. after snapshots were
   * pruned while the image stayed) and return what a container needs.
   */
  async imageForContainer(nameOrId: string): Promise<ImageForContainer> {
    const rec = this.images.resolve(nameOrId);
    const config = await this.readConfig(rec.id);
    const diffIds = config.rootfs.diff_ids;
    const chainId = topChainId(diffIds);
    if (this.snapshotter && chainId && (await this.snapshotter.find(chainId))?.kind !== 'committed') {
      await this.lease(async () => {
        const parsed = parseManifest(await this.content.readBytes(this.pickManifest(rec).manifest.digest));
        if (parsed.kind !== 'manifest') throw new BerthError('BERTH_IMAGE_CORRUPT', `image ${rec.id}: stored manifest is not an image manifest`);
        await unpackImage({
          snapshotter: this.snapshotter!,
          store: this.content,
          layers: parsed.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]! })),
        });
      });
    }
    const name = rec.repoTags[0] ? familiarString(parseReference(rec.repoTags[0])) : rec.id;
    return { id: rec.id, config, ...(chainId ? { chainId } : {}), name };
  }

  // --- queries -----------------------------------------------------------------

  async list(options: { all?: boolean; filters?: ImageFilters } = {}): Promise<ImageSummary[]> {
    const filters = checkFilters(options.filters ?? {}, ['dangling', 'label', 'reference', 'before', 'since'], 'image list');
    const records = this.images.list();
    const parents = new Set(records.map((r) => r.parent).filter((p): p is Digest => !!p));
    const createdOf = async (name: string) => unixSeconds((await this.readConfig(this.images.resolve(name).id)).created);
    const before = filters.before && (await Promise.all(filters.before.map(createdOf)));
    const since = filters.since && (await Promise.all(filters.since.map(createdOf)));
    const dangling = filters.dangling ? parseBoolFilter('dangling', filters.dangling) : undefined;
    const out: ImageSummary[] = [];
    for (const rec of records) {
      const config = await this.readConfig(rec.id);
      const created = unixSeconds(config.created);
      // Docker hides untagged intermediate images (parents of others) unless --all.
      if (!options.all && rec.repoTags.length === 0 && parents.has(rec.id) && dangling === undefined) continue;
      if (dangling !== undefined && (rec.repoTags.length === 0) !== dangling) continue;
      if (filters.label && !matchLabels(config.config?.Labels ?? {}, filters.label)) continue;
      if (before && !before.every((b) => created < b)) continue;
      if (since && !since.every((s) => created > s)) continue;
      let repoTags = rec.repoTags.map(familiarTag);
      if (filters.reference) {
        repoTags = repoTags.filter((t) => filters.reference!.some((p) => referenceMatches(p, t)));
        if (repoTags.length === 0) continue;
      }
      out.push({
        id: rec.id,
        repoTags,
        repoDigests: rec.repoDigests.map(familiarTag),
        parentId: rec.parent ?? '',
        created,
        size: rec.size,
        labels: config.config?.Labels ?? {},
        containers: await this.containerCount(rec.id),
      });
    }
    return out.sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
  }

  async inspect(nameOrId: string): Promise<ImageDetails> {
    const rec = this.images.resolve(nameOrId);
    const config = await this.readConfig(rec.id);
    const chainId = topChainId(config.rootfs.diff_ids);
    const details: ImageDetails = {
      id: rec.id,
      repoTags: rec.repoTags.map(familiarTag),
      repoDigests: rec.repoDigests.map(familiarTag),
      parent: rec.parent ?? '',
      comment: config.comment ?? '',
      created: config.created ?? '',
      dockerVersion: config.docker_version ?? '',
      author: config.author ?? '',
      config: config.config ?? {},
      architecture: config.architecture,
      os: config.os,
      size: rec.size,
      rootfs: { type: 'layers', diffIds: [...config.rootfs.diff_ids] },
      history: config.history ?? [],
      labels: config.config?.Labels ?? {},
      manifests: rec.manifests.map((m) => m.manifest),
      containers: await this.containerCount(rec.id),
    };
    if (config.container_config) details.containerConfig = config.container_config;
    if (config.variant) details.variant = config.variant;
    if (config['os.version']) details.osVersion = config['os.version'];
    if (rec.lastTagTime) details.lastTagTime = rec.lastTagTime;
    if (chainId) details.chainId = chainId;
    return details;
  }

  /** `docker history`: newest step first, sizes per layer. */
  async history(nameOrId: string): Promise<ImageHistoryItem[]> {
    const rec = this.images.resolve(nameOrId);
    const config = await this.readConfig(rec.id);
    const diffIds = config.rootfs.diff_ids;
    const layerSizes = await this.layerSizes(rec, diffIds);
    const entries: HistoryEntry[] = config.history?.length ? config.history : diffIds.map(() => ({}));
    const items: ImageHistoryItem[] = [];
    let layer = 0;
    for (const h of entries) {
      let size = 0;
      if (!h.empty_layer) {
        size = layerSizes[layer] ?? 0;
        layer++;
      }
      items.push({ id: '<missing>', created: unixSeconds(h.created), createdBy: h.created_by ?? '', tags: [], size, comment: h.comment ?? '' });
    }
    items.reverse();
    if (items[0]) {
      items[0].id = rec.id;
      items[0].tags = rec.repoTags.map(familiarTag);
    }
    return items;
  }

  /** Per layer: the unpacked snapshot's own bytes when it exists, else the layer blob's size. */
  private async layerSizes(rec: ImageRecord, diffIds: Digest[]): Promise<number[]> {
    let blobSizes: number[] = [];
    try {
      const parsed = parseManifest(await this.content.readBytes(this.pickManifest(rec).manifest.digest));
      if (parsed.kind === 'manifest') blobSizes = parsed.manifest.layers.map((l) => l.size);
    } catch (err) {
      if (!isBerthError(err)) throw err;
    }
    const ids = chainIds(diffIds);
    const sizes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const snapshot = this.snapshotter ? await this.snapshotter.find(ids[i]!) : undefined;
      sizes.push(snapshot ? (await this.snapshotter!.usage(ids[i]!)).size : (blobSizes[i] ?? 0));
    }
    return sizes;
  }

  // --- names -------------------------------------------------------------------

  /** `docker tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<void> {
    const rec = this.images.resolve(source);
    await this.images.tag(rec.id, target);
  }

  /**
   * `docker rmi`: untag, and delete the image when its last name is gone —
   * with Docker's rules for IDs, several repositories, and containers.
   */
  async remove(nameOrId: string, options: RemoveOptions = {}): Promise<RemoveItem[]> {
    const force = options.force ?? false;
    const rec = this.images.resolve(nameOrId);
    const records: RemoveItem[] = [];
    const byId = isIdReference(nameOrId, rec.id);
    const users = await this.usersOf(rec.id);

    if (!byId) {
      // A name was given: remove that name first.
      const ref = parseReference(nameOrId);
      const name = ref.digest !== undefined ? digestString(ref as ImageReference & { digest: Digest }) : tagString(withLatest(ref));
      if (!rec.repoTags.includes(name) && !rec.repoDigests.includes(name)) {
        // Found by a manifest digest rather than a recorded name: nothing to untag by that name.
        throw new BerthError('BERTH_IMAGE_NOT_FOUND', `No such image: ${nameOrId}`, { status: 404 });
      }
      if (!force && users.length > 0 && rec.repoTags.length + rec.repoDigests.length === 1) {
        // Removing the last name would leave a container on a nameless image: Docker wants that forced.
        throw conflict(`conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${shortDigest(rec.id)}`);
      }
      await this.images.untag(name);
      records.push({ Untagged: familiarTag(name) });
      let remaining = this.images.get(rec.id)!;
      if (ref.digest === undefined) {
        // The last tag of a repository takes that repository's digest references with it.
        const repo = referenceName(ref);
        if (!remaining.repoTags.some((t) => t.startsWith(repo + ':'))) {
          for (const d of remaining.repoDigests.filter((d) => d.startsWith(repo + '@'))) {
            await this.images.untag(d);
            records.push({ Untagged: familiarTag(d) });
          }
          remaining = this.images.get(rec.id)!;
        }
      }
      if (remaining.repoTags.length + remaining.repoDigests.length > 0) return records;
      // Last name gone: delete the image, unless a running container holds it (then it stays, nameless).
      if (users.some((u) => u.running) || (users.length > 0 && !force)) return records;
    } else {
      const repos = new Set([...rec.repoTags, ...rec.repoDigests].map((r) => referenceName(parseReference(r))));
      const running = users.find((u) => u.running);
      if (running) {
        throw conflict(`conflict: unable to delete ${shortDigest(rec.id)} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
      }
      if (users.length > 0 && !force) {
        throw conflict(`conflict: unable to delete ${shortDigest(rec.id)} (must be forced) - image is being used by stopped container ${users[0]!.id.slice(0, 12)}`);
      }
      if (repos.size > 1 && !force) {
        throw conflict(`conflict: unable to delete ${shortDigest(rec.id)} (must be forced) - image is referenced in multiple repositories`);
      }
      const children = this.images.list().filter((r) => r.parent === rec.id);
      if (children.length > 0) {
        throw conflict(`conflict: unable to delete ${shortDigest(rec.id)} (cannot be forced) - image has dependent child images`);
      }
      for (const name of [...rec.repoTags, ...rec.repoDigests]) {
        await this.images.untag(name);
        records.push({ Untagged: familiarTag(name) });
      }
    }
    if (this.images.list().some((r) => r.parent === rec.id)) return records; // children keep it as an untagged parent
    records.push(...(await this.deleteImages([rec.id], !options.noPrune)));
    return records;
  }

  /** `docker image prune`. */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const filters = checkFilters(options.filters ?? {}, ['dangling', 'until', 'label', 'label!'], 'image prune');
    let all = options.all ?? false;
    if (filters.dangling) all = !parseBoolFilter('dangling', filters.dangling);
    const until = filters.until?.map(parseUntil);
    const deleted: RemoveItem[] = [];
    const doomed: Digest[] = [];
    const records = this.images.list();
    const parents = new Set(records.map((r) => r.parent).filter((p): p is Digest => !!p));
    for (const rec of records) {
      if (!all && rec.repoTags.length > 0) continue;
      if (parents.has(rec.id)) continue; // a parent goes with its last child
      if ((await this.usersOf(rec.id)).length > 0) continue;
      const config = await this.readConfig(rec.id);
      const created = unixSeconds(config.created);
      if (until && !until.every((u) => created < u)) continue;
      const labels = config.config?.Labels ?? {};
      if (filters.label && !matchLabels(labels, filters.label)) continue;
      if (filters['label!'] && filters['label!'].some((l) => matchLabels(labels, [l]))) continue;
      for (const name of [...rec.repoTags, ...rec.repoDigests]) {
        await this.images.untag(name);
        deleted.push({ Untagged: familiarTag(name) });
      }
      doomed.push(rec.id);
    }
    const { items, spaceReclaimed } = await this.deleteImagesMeasured(doomed, true);
    deleted.push(...items);
    return { deleted, spaceReclaimed };
  }

  /** Collect every blob and snapshot no image (and no container) uses. */
  async gc(options: { dryRun?: boolean } = {}): Promise<GcResult> {
    return this.gcLock.exclusive(() => this.collect(options.dryRun ?? false));
  }

  // --- internals ---------------------------------------------------------------

  private async deleteImages(ids: Digest[], pruneParents: boolean): Promise<RemoveItem[]> {
    return (await this.deleteImagesMeasured(ids, pruneParents, false)).items;
  }

  /**
   * Work that adds content (pull, push, load, unpack) holds the GC lock
   * shared: what it writes is not yet referenced by any image record, so no
   * sweep may run meanwhile. A sweep deferred by rmi runs when the last one ends.
   */
  private async lease<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.gcLock.shared(fn);
    } finally {
      if (this.gcPending) {
        // Best effort: a sweep that fails now is redone by the next rmi, prune or gc.
        await this.gcLock.tryExclusive(async () => {
          this.gcPending = false;
          await this.collect(false);
        }).catch(() => {});
      }
    }
  }

  /**
   * Drop image records (and untagged parents no longer needed), then sweep;
   * Deleted items for images and freed layers. With `wait` false (rmi) the
   * sweep is not held up by pulls in progress: it runs after them instead,
   * and the layers it frees then are not listed.
   */
  private async deleteImagesMeasured(ids: Digest[], pruneParents: boolean, wait = true): Promise<{ items: RemoveItem[]; spaceReclaimed: number }> {
    const items: RemoveItem[] = [];
    if (ids.length === 0) return { items, spaceReclaimed: 0 };
    const sweep = async () => {
      const result = await this.collect(false);
      for (const chainId of result.deletedSnapshots) items.push({ Deleted: chainId });
      return result.spaceReclaimed;
    };
    {
      const queue = [...ids];
      while (queue.length > 0) {
        const id = queue.shift()!;
        const rec = this.images.get(id);
        if (!rec) continue;
        await this.images.delete(id);
        items.push({ Deleted: id });
        if (pruneParents && rec.parent) {
          const parent = this.images.get(rec.parent);
          const stillParent = this.images.list().some((r) => r.parent === rec.parent);
          if (parent && parent.repoTags.length === 0 && !stillParent && (await this.usersOf(parent.id)).length === 0) queue.push(parent.id);
        }
      }
    }
    if (wait) return { items, spaceReclaimed: await this.gcLock.exclusive(sweep) };
    const now = await this.gcLock.tryExclusive(sweep);
    if (now.ran) return { items, spaceReclaimed: now.value };
    this.gcPending = true;
    return { items, spaceReclaimed: 0 };
  }

  /** Mark and sweep; the caller holds the GC lock exclusively. */
  private async collect(dryRun: boolean): Promise<GcResult> {
    const images = this.images.list();
    const snapshots = this.snapshotter ? snapshotCatalog(this.snapshotter) : undefined;
    const result = await collectGarbage({
      content: this.content,
      images,
      dryRun,
      ...(snapshots
        ? { snapshots, inUse: async (c: Digest) => snapshots.pinned.has(c) || (this.chainIdsInUse ? await this.chainIdsInUse(c) : false) }
        : {}),
    });
    for (const id of this.configCache.keys()) if (!images.some((r) => r.id === id)) this.configCache.delete(id);
    // Partial downloads/uploads nobody resumed within a day are abandoned.
    if (!dryRun) await this.content.pruneIngests(ABANDONED_INGEST_MS);
    return result;
  }

  private pickManifest(rec: ImageRecord) {
    const host = hostPlatform();
    const pick = rec.manifests.find((m) => m.manifest.platform && platformMatches(host, m.manifest.platform)) ?? rec.manifests[0];
    if (!pick) throw new BerthError('BERTH_IMAGE_CORRUPT', `image ${rec.id} has no manifest`);
    return pick;
  }

  private async readConfig(id: Digest): Promise<ImageConfig> {
    const cached = this.configCache.get(id);
    if (cached) return cached;
    const config = parseImageConfig(await this.content.readBytes(id));
    this.configCache.set(id, config);
    return config;
  }

  private async usersOf(id: Digest): Promise<Array<{ id: string; running: boolean }>> {
    return this.containersUsing ? await this.containersUsing(id) : [];
  }

  private async containerCount(id: Digest): Promise<number> {
    return this.containersUsing ? (await this.containersUsing(id)).length : -1;
  }
}

/**
 * The snapshotter as GC sees it: committed snapshots named by chain ID are
 * image layers; any other snapshot (a container's rootfs, a view) pins its
 * parent chain.
 */
function snapshotCatalog(s: Snapshotter): SnapshotCatalog & { pinned: Set<Digest> } {
  const pinned = new Set<Digest>();
  return {
    pinned,
    async list() {
      const all = await s.list();
      pinned.clear();
      const layers: Array<{ chainId: Digest; parent?: Digest }> = [];
      for (const info of all) {
        const isLayer = info.kind === 'committed' && /^sha256:[a-f0-9]{64}$/.test(info.key);
        if (isLayer) layers.push({ chainId: info.key as Digest, ...(info.parent ? { parent: info.parent as Digest } : {}) });
        else if (info.parent) pinned.add(info.parent as Digest);
      }
      return layers;
    },
    async remove(chainId) {
      const { size } = await s.usage(chainId).catch(() => ({ size: 0 }));
      await s.remove(chainId);
      return size;
    },
  };
}

function conflict(message: string): BerthError {
  return new BerthError('BERTH_IMAGE_CONFLICT', message, { status: 409 });
}

/** Was the image named by its ID (full or prefix) rather than by a name? */
function isIdReference(input: string, id: Digest): boolean {
  const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input);
  return !!m && id.startsWith(`sha256:${m[1]}`);
}

function withLatest(ref: ImageReference): ImageReference & { tag: string } {
  return { ...ref, tag: ref.tag ?? 'latest' };
}

function familiarTag(full: string): string {
  return familiarString(parseReference(full));
}

/** The name as the image store records it: name:tag (default latest) or name@digest. */
function storedName(ref: ImageReference): string {
  return ref.digest !== undefined ? digestString(ref as ImageReference & { digest: Digest }) : tagString(withLatest(ref));
}

function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

function configPlatformOf(config: ImageConfig): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}

function unixSeconds(iso: string | undefined): number {
  if (!iso) return 0;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

function checkFilters(filters: ImageFilters, allowed: string[], where: string): Partial<Record<string, string[]>> {
  for (const [key, values] of Object.entries(filters)) {
    if (!allowed.includes(key)) {
      throw new BerthError('BERTH_IMAGE_INVALID_FILTER', `invalid filter '${key}' for ${where} (allowed: ${allowed.join(', ')})`, { status: 400 });
    }
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
      throw new BerthError('BERTH_IMAGE_INVALID_FILTER', `filter '${key}' must be a list of strings`, { status: 400 });
    }
  }
  return filters;
}

function parseBoolFilter(name: string, values: string[]): boolean {
  const v = values[values.length - 1]!.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new BerthError('BERTH_IMAGE_INVALID_FILTER', `invalid filter '${name}=${values[values.length - 1]}': expected true or false`, { status: 400 });
}

/** label=key or label=key=value; all must match. */
function matchLabels(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq === -1) return w in labels;
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Docker's reference filter: a path.Match glob against "name:tag", or against the name when the pattern has no tag. */
export function referenceMatches(pattern: string, familiar: string): boolean {
  const re = globToRegExp(pattern);
  if (re.test(familiar)) return true;
  const lastSlash = familiar.lastIndexOf('/');
  const colon = familiar.indexOf(':', lastSlash + 1);
  const at = familiar.indexOf('@');
  const cut = [colon, at].filter((i) => i > -1);
  const name = cut.length ? familiar.slice(0, Math.min(...cut)) : familiar;
  return re.test(name);
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      out += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      out += '\\' + glob[++i];
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** until=<RFC 3339 | Unix seconds | Go duration like 24h, 90m> → Unix seconds. */
function parseUntil(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const duration = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value);
  if (duration && value !== '') {
    const [, h, m, s] = duration;
    const secs = Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
    return Math.floor(Date.now() / 1000 - secs);
  }
  const t = Date.parse(value);
  if (!Number.isNaN(t)) return Math.floor(t / 1000);
  throw new BerthError('BERTH_IMAGE_INVALID_FILTER', `invalid filter 'until=${value}': expected a timestamp or a duration like 24h`, { status: 400 });
}
