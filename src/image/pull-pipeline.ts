/**
 * Pull with unpacking overlapped: each layer is unpacked as soon as its blob
 * is downloaded and verified, while the other layers are still downloading,
 * up to one layer per core at a time (overlay snapshots are independent
 * directories, so layer 3 can be unpacked before layer 2; see
 * src/snapshot/layers.ts). The sequential alternative — download everything,
 * then unpack — leaves the cores idle during the transfer and the network
 * idle during the unpack.
 *
 * How it learns what to unpack before pullImage() returns: the image
 * manifest is seen as it is fetched (a RegistryClient subclass passed to
 * pullImage observes getManifest), the config (diff IDs, hence chain IDs) is
 * read from the content store as soon as it is committed there, and
 * pullImage's onLayerCommitted hook opens each layer's gate. The observed
 * manifest is only a hint: nothing is committed from it that pullImage does
 * not verify — a layer is unpacked only from a blob the store has verified
 * against its digest, its diffID is checked against the config (itself
 * verified), and if the manifest pullImage finally returns differs from the
 * hint, the early work is dropped and the layers unpacked from the verified
 * result. When no hint comes (another pull path), unpacking simply starts
 * after the download, as before.
 *
 * Safety is layers.ts's: a layer's snapshot is committed only after its
 * compressed digest (content store) and its diffID (unpack) verified and the
 * layers below are committed; on any failure its extraction snapshot is
 * removed. Layers below a failed one that verified stay committed (a cache
 * for the next pull, as docker keeps them) until GC finds no image using
 * them; the image itself is registered by the caller only after every layer
 * is committed.
 */
import { availableParallelism } from 'node:os';
import { BerthError } from '../common/errors.ts';
import type { ProgressSink } from '../common/progress.ts';
import { shortDigest } from '../content/digest.ts';
import type { ContentStore, Digest } from '../content/types.ts';
import { RegistryClient, type ManifestResponse, type RegistryClientOptions } from '../distribution/client.ts';
import { pullImage, type PullOptions, type PullResult } from '../distribution/pull.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../oci/image-spec.ts';
import { startProgressiveUnpack, unpackImage, type ProgressiveUnpack, type UnpackedImage } from '../snapshot/layers.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { chainIds } from './chain-id.ts';
import { assertImageManifest } from './manifest.ts';
import { parseDockerRef, referenceString } from './reference.ts';

export interface PullAndUnpackOptions extends Omit<PullOptions, 'onLayerCommitted' | 'client' | 'store'> {
  store: ContentStore;
  snapshotter: Snapshotter;
  /** Layers unpacked at once; default the number of cores. */
  unpackConcurrency?: number;
}

export interface PullAndUnpackResult {
  pull: PullResult;
  unpacked: UnpackedImage;
  /** True when unpacking overlapped the download (the manifest was seen early). */
  overlapped: boolean;
}

/** How often to look for the config blob while it is still downloading (it is first in the queue and tiny). */
const CONFIG_POLL_MS = 5;

/** pullImage, with every layer unpacked into its chain-ID snapshot as soon as it lands. */
export async function pullAndUnpack(o: PullAndUnpackOptions): Promise<PullAndUnpackResult> {
  const ref = typeof o.reference === 'string' ? parseDockerRef(o.reference) : o.reference;
  const userProgress: ProgressSink = o.progress ?? (() => {});
  // Each layer's disk usage (du; the image's SIZE) is measured as soon as it is committed, while
  // the others still unpack, rather than all at the end; the snapshotter keeps the figure.
  const measuring: Promise<unknown>[] = [];
  let layersById = new Map<string, Digest[]>();
  const progress: ProgressSink = (e) => {
    userProgress(e);
    if (e.status !== 'Pull complete') return;
    for (const chainId of layersById.get(e.id) ?? []) measuring.push(o.snapshotter.usage(chainId).catch(() => {}));
  };
  const measureLayers = (layers: Descriptor[], diffIds: Digest[]) => {
    layersById = new Map();
    chainIds(diffIds).forEach((chainId, i) => {
      const id = shortDigest(layers[i]!.digest);
      layersById.set(id, [...(layersById.get(id) ?? []), chainId]);
    });
  };
  const measured = async () => {
    await Promise.allSettled(measuring);
  };
  const concurrency = Math.max(1, o.unpackConcurrency ?? availableParallelism());
  // An unpack failure (diffID mismatch, unsafe layer) stops the downloads still running.
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  let pullSettled = false;
  let hint: ImageManifest | undefined;
  let progressive: ProgressiveUnpack | undefined;
  /** Layers committed before the unpack could start (the config was still on its way). */
  const readyEarly = new Set<number>();
  let early: Promise<UnpackedImage> | undefined;
  let earlyError: unknown;

  const startEarly = (manifest: ImageManifest) => {
    hint = manifest;
    early = (async () => {
      const config = await waitForConfig(o.store, manifest.config.digest, () => pullSettled);
      const diffIds = config?.rootfs?.diff_ids;
      if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
        // Not ours to report: the caller checks layers against diff_ids on the verified result.
        throw new NoEarlyUnpack();
      }
      if (pullEnded) throw pullEnded;
      measureLayers(manifest.layers, diffIds);
      progressive = startProgressiveUnpack({
        snapshotter: o.snapshotter,
        store: o.store,
        layers: manifest.layers,
        diffIds,
        onProgress: progress,
        concurrency,
      });
      for (const i of readyEarly) progressive.layerReady(i);
      return progressive.done;
    })();
    early.catch((err) => {
      if (err instanceof NoEarlyUnpack || err instanceof PullEnded) return;
      earlyError ??= err;
      stop.abort(err);
    });
  };
  let pullEnded: PullEnded | undefined;
  const endPull = () => {
    pullEnded ??= new PullEnded();
    progressive?.abort(pullEnded);
  };

  const clientOptions: RegistryClientOptions = {
    registry: ref.domain,
    signal,
    ...(o.insecureRegistries ? { insecureRegistries: o.insecureRegistries } : {}),
    ...(o.credentials !== undefined ? { credentials: o.credentials } : {}),
    ...(o.configPath ? { configPath: o.configPath } : {}),
    ...(o.userAgent ? { userAgent: o.userAgent } : {}),
  };
  const client = new ManifestWatchingClient(clientOptions, (res) => {
    if (early) return;
    const manifest = imageManifestOf(res);
    if (!manifest) return;
    try {
      assertImageManifest(manifest);
    } catch {
      return; // not an image berth unpacks: left to the checks on the verified result
    }
    startEarly(manifest);
  });

  const { snapshotter: _s, unpackConcurrency: _c, ...pullOptions } = o;
  let pulled: PullResult;
  try {
    pulled = await pullImage({
      ...pullOptions,
      reference: ref,
      signal,
      client,
      onLayerCommitted: (layer, index) => {
        // Only opens a gate: the hook must never wait on the unpack, or a failing pull could wait on itself.
        if (!hint || hint.layers[index]?.digest !== layer.digest) return;
        if (progressive) progressive.layerReady(index);
        else readyEarly.add(index);
      },
    });
  } catch (err) {
    pullSettled = true;
    endPull();
    await early?.catch(() => {});
    await measured();
    // The unpack's own failure is what stopped the pull: report that, not the abort.
    throw earlyError ?? err;
  }
  pullSettled = true;
  if (early && hint && sameImage(hint, pulled.manifest)) {
    try {
      const unpacked = await early;
      await measured();
      return { pull: pulled, unpacked, overlapped: true };
    } catch (err) {
      if (!(err instanceof NoEarlyUnpack)) throw err;
    }
  } else {
    endPull();
    await early?.catch(() => {});
  }
  // No usable hint: unpack the verified result now.
  assertImageManifest(pulled.manifest, `${referenceString(ref)} manifest`);
  const diffIds = pulled.config.rootfs?.diff_ids ?? [];
  if (!Array.isArray(diffIds) || diffIds.length !== pulled.manifest.layers.length) {
    throw new BerthError(
      'BERTH_IMAGE_LAYER_MISMATCH',
      `image ${pulled.configDescriptor.digest}: manifest has ${pulled.manifest.layers.length} layers but the config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids`,
      { status: 400 },
    );
  }
  measureLayers(pulled.manifest.layers, diffIds);
  const unpacked = await unpackImage({
    snapshotter: o.snapshotter,
    store: o.store,
    layers: pulled.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]! })),
    onProgress: progress,
    concurrency,
  });
  await measured();
  return { pull: pulled, unpacked, overlapped: false };
}

/** A RegistryClient that shows every manifest it fetches to `observe` (before pullImage checks it). */
class ManifestWatchingClient extends RegistryClient {
  private readonly observe: (res: ManifestResponse) => void;
  constructor(options: RegistryClientOptions, observe: (res: ManifestResponse) => void) {
    super(options);
    this.observe = observe;
  }
  override async getManifest(repository: string, reference: string, accept?: readonly string[]): Promise<ManifestResponse> {
    const res = await super.getManifest(repository, reference, ...(accept ? [accept] : []));
    try {
      this.observe(res);
    } catch {
      // a hint that cannot be read is no hint
    }
    return res;
  }
}

/** The bytes as an image manifest (config + layers with digests), or undefined (an index, or junk). */
function imageManifestOf(res: ManifestResponse): ImageManifest | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const m = parsed as Partial<ImageManifest> | null;
  if (!m || typeof m !== 'object' || !m.config || !Array.isArray(m.layers)) return undefined;
  const isDescriptor = (d: unknown): d is Descriptor =>
    !!d && typeof d === 'object' && typeof (d as Descriptor).digest === 'string' && /^sha256:[a-f0-9]{64}$/.test((d as Descriptor).digest) && typeof (d as Descriptor).mediaType === 'string';
  if (!isDescriptor(m.config) || !m.layers.every(isDescriptor)) return undefined;
  return m as ImageManifest;
}

function sameImage(a: ImageManifest, b: ImageManifest): boolean {
  return (
    a.config.digest === b.config.digest &&
    a.layers.length === b.layers.length &&
    a.layers.every((l, i) => l.digest === b.layers[i]!.digest && l.mediaType === b.layers[i]!.mediaType)
  );
}

/** The config once it is in the store (verified by digest there), or a rejection once the pull is over without it. */
async function waitForConfig(store: ContentStore, digest: Digest, pullOver: () => boolean): Promise<ImageConfig | undefined> {
  for (;;) {
    if (await store.has(digest)) break;
    if (pullOver()) {
      if (await store.has(digest)) break;
      throw new PullEnded();
    }
    await new Promise((r) => setTimeout(r, CONFIG_POLL_MS));
  }
  try {
    return JSON.parse((await store.readBytes(digest)).toString('utf8')) as ImageConfig;
  } catch {
    return undefined; // pullImage reports an unreadable config
  }
}

/** The early path gave up without an error of its own (no usable config yet). */
class NoEarlyUnpack extends Error {}
/** The pull ended (failed, or returned something else) before this layer's blob was there. */
class PullEnded extends BerthError {
  constructor() {
    super('BERTH_IMAGE_PULL_ENDED', 'the pull ended before this layer was downloaded; its unpack was not started');
  }
}
