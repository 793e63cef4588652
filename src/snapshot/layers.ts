import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import type { ProgressSink } from '../common/progress.ts';
import type { ContentStore, Digest } from '../content/types.ts';
import { isLayerMediaType, type Descriptor } from '../oci/image-spec.ts';
import { unpackLayer, type UnpackResult } from './apply.ts';
import { finishLayer } from './lower-layers.ts';
import type { Snapshotter } from './types.ts';

/**
 * Image layers → snapshots keyed by chain ID (OCI image spec):
 *   chainID(L0) = diffID(L0)
 *   chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))
 * A committed snapshot named by its chain ID is one unpack of that exact
 * stack of layers, shared by every image built on it. Calls for the same
 * chain in one process share one unpack.
 *
 * With overlayfs every layer is unpacked into its own directory as soon as
 * its blob is there (in parallel with downloads and with each other) and
 * only the short finishing step (checks against the layers below, commit
 * under its parent) waits for the layer below; the copying snapshotter has
 * to apply layers one after the other onto a copy of the parent.
 */
// Chain IDs are the image spec's (one definition, in src/image/chain-id.ts).
export { chainIds } from '../image/chain-id.ts';
import { chainIds } from '../image/chain-id.ts';

export interface LayerSource {
  descriptor: Descriptor;
  /** From the image config's rootfs.diff_ids; the unpacked stream must hash to it. */
  diffId: Digest;
  /** Resolves when the blob can be opened (a pull passes its download); default: now. */
  ready?: Promise<void>;
  /** Open the (compressed) blob; default: store.read(descriptor.digest). */
  open?: () => Readable;
}

export interface UnpackImageOptions {
  snapshotter: Snapshotter;
  layers: LayerSource[];
  store?: ContentStore;
  onProgress?: ProgressSink;
  /** Layers unpacked at once (overlay); default 3. */
  concurrency?: number;
}

export interface UnpackedImage {
  /** Chain ID of the top layer (undefined for an image without layers). */
  chainId: Digest | undefined;
  /** Committed snapshot to prepare containers on (the chain ID), or undefined without layers. */
  snapshotKey: string | undefined;
}

export interface ApplyImageLayersOptions {
  store: ContentStore;
  snapshotter: Snapshotter;
  layers: Descriptor[];
  diffIds: Digest[];
  onProgress?: ProgressSink;
}

/** Unpack an image's layers (already in the content store) into snapshots. */
export async function applyImageLayers(options: ApplyImageLayersOptions): Promise<UnpackedImage & { chainId: Digest; snapshotKey: string }> {
  if (options.layers.length !== options.diffIds.length) {
    throw new BerthError('BERTH_SNAPSHOT_BAD_IMAGE', `image has ${options.layers.length} layers but its config lists ${options.diffIds.length} diff_ids`, { status: 400 });
  }
  if (options.layers.length === 0) throw new BerthError('BERTH_SNAPSHOT_BAD_IMAGE', 'image has no layers', { status: 400 });
  const r = await unpackImage({
    snapshotter: options.snapshotter,
    store: options.store,
    layers: options.layers.map((descriptor, i) => ({ descriptor, diffId: options.diffIds[i]! })),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return { chainId: r.chainId!, snapshotKey: r.snapshotKey! };
}

export interface ProgressiveUnpack {
  /** Layer `index` (position in the manifest) is in the store: it may be unpacked now. */
  layerReady(index: number): void;
  /** The download failed: layers not yet ready are not unpacked, `done` rejects with `reason`. */
  abort(reason: unknown): void;
  /** Resolves when every layer is unpacked and committed. */
  done: Promise<UnpackedImage>;
}

/**
 * Unpack while a pull is still downloading: start it once the config (the
 * diff IDs) is known, and call layerReady(i) from the pull's per-layer
 * commit callback (pullImage's onLayerCommitted). With overlayfs each layer
 * is unpacked as soon as it is ready; a failed download is passed to abort().
 */
export function startProgressiveUnpack(options: Omit<UnpackImageOptions, 'layers'> & { layers: Descriptor[]; diffIds: Digest[] }): ProgressiveUnpack {
  if (options.layers.length !== options.diffIds.length) {
    throw new BerthError('BERTH_SNAPSHOT_BAD_IMAGE', `image has ${options.layers.length} layers but its config lists ${options.diffIds.length} diff_ids`, { status: 400 });
  }
  const gates = options.layers.map(() => {
    let open!: () => void;
    let fail!: (err: unknown) => void;
    const promise = new Promise<void>((resolve, reject) => { open = resolve; fail = reject; });
    promise.catch(() => {});
    return { promise, open, fail };
  });
  const done = unpackImage({
    ...options,
    layers: options.layers.map((descriptor, i) => ({ descriptor, diffId: options.diffIds[i]!, ready: gates[i]!.promise })),
  });
  done.catch(() => {});
  return {
    layerReady(index: number) {
      gates[index]?.open();
    },
    abort(reason: unknown) {
      for (const g of gates) g.fail(reason);
    },
    done,
  };
}

/** How many leading layers are already unpacked (a pull need not download those blobs). */
export async function unpackedPrefix(snapshotter: Snapshotter, diffIds: Digest[]): Promise<number> {
  const ids = chainIds(diffIds);
  for (let i = ids.length - 1; i >= 0; i--) {
    const info = await snapshotter.find(ids[i]!);
    if (info?.kind === 'committed') return i + 1;
  }
  return 0;
}

/**
 * Remove extraction snapshots a crash or kill left behind (berthd calls this
 * once at start, before any pull). Never call it while an unpack is running.
 */
export async function removeStaleExtractions(snapshotter: Snapshotter): Promise<string[]> {
  const removed: string[] = [];
  for (const info of await snapshotter.list()) {
    if (info.kind === 'active' && info.key.startsWith('extract-') && info.labels['berth.io/extracting']) {
      await snapshotter.remove(info.key).catch(() => {});
      removed.push(info.key);
    }
  }
  return removed;
}

/** One unpack per chain per snapshotter in this process. */
const inflight = new Map<string, Promise<void>>();

/** Unpack layers as their blobs become ready; resolves when the whole chain is committed. */
export async function unpackImage(options: UnpackImageOptions): Promise<UnpackedImage> {
  const { snapshotter, layers } = options;
  const ids = chainIds(layers.map((l) => l.diffId));
  for (const l of layers) {
    if (!isLayerMediaType(l.descriptor.mediaType)) {
      throw new BerthError('BERTH_SNAPSHOT_UNSUPPORTED_LAYER', `layer ${l.descriptor.digest} has media type "${l.descriptor.mediaType}", which is not a layer type berth can unpack`, { status: 400 });
    }
  }
  const limiter = new Limiter(options.concurrency ?? 3);
  const done: Array<Promise<void>> = [];
  for (let i = 0; i < layers.length; i++) {
    const chainId = ids[i]!;
    const below = i > 0 ? done[i - 1]! : Promise.resolve();
    const parent = i > 0 ? ids[i - 1] : undefined;
    const key = `${snapshotterKey(snapshotter)}\n${chainId}`;
    const own = (): Promise<void> => {
      const running = inflight.get(key);
      if (running) return running;
      const mine: Promise<void> = ensureLayer({ ...options, layer: layers[i]!, chainId, parent, below, limiter }).finally(() => {
        if (inflight.get(key) === mine) inflight.delete(key);
      });
      inflight.set(key, mine);
      return mine;
    };
    const joined = inflight.get(key);
    // Joining another pull's unpack: if that one fails (its download broke, it was aborted), unpack ours from our own blob.
    const p = joined ? joined.catch(() => own()) : own();
    done.push(p);
    // Surface a failure of any layer even while lower ones are still running.
    p.catch(() => {});
  }
  // Settle everything before answering, so no layer is still unpacking (or cleaning up) after a failure is reported.
  const settled = await Promise.allSettled(done);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const top = ids[ids.length - 1];
  return { chainId: top, snapshotKey: top };
}

const keys = new WeakMap<object, string>();
function snapshotterKey(s: Snapshotter): string {
  const root = (s as { root?: string }).root;
  if (root) return root;
  let k = keys.get(s);
  if (!k) keys.set(s, (k = randomBytes(8).toString('hex')));
  return k;
}

interface EnsureLayer extends UnpackImageOptions {
  layer: LayerSource;
  chainId: Digest;
  parent: Digest | undefined;
  /** Resolves when the layer below is committed. */
  below: Promise<void>;
  limiter: Limiter;
}

async function ensureLayer(o: EnsureLayer): Promise<void> {
  const { snapshotter: s, layer, chainId } = o;
  const id = layer.descriptor.digest.slice('sha256:'.length, 'sha256:'.length + 12);
  const progress = o.onProgress ?? (() => {});
  if ((await s.find(chainId))?.kind === 'committed') {
    await o.below;
    progress({ id, status: 'Already exists' });
    return;
  }
  const extractKey = `extract-${randomBytes(6).toString('hex')}-${chainId}`;
  const open = () => {
    if (layer.open) return layer.open();
    if (!o.store) throw new BerthError('BERTH_SNAPSHOT_NO_SOURCE', `layer ${layer.descriptor.digest}: no content store and no opener given`);
    return o.store.read(layer.descriptor.digest);
  };
  try {
    if (s.independentLayers) {
      // Unpack now into an independent dir; stack it when the layers below are done.
      await (layer.ready ?? Promise.resolve());
      let stacked = false;
      const result = await o.limiter.run(async () => {
        // Stacked on the parent when it is already there (so nothing mistakes the parent for unused meanwhile); else alone, stacked at commit.
        stacked = o.parent === undefined || (await s.find(o.parent))?.kind === 'committed';
        await s.prepare(extractKey, stacked ? o.parent : undefined, { labels: { 'berth.io/extracting': chainId } });
        return unpackInto(s, extractKey, open, layer, id, progress);
      });
      await o.below;
      const parentDirs = o.parent ? await s.dirs(o.parent) : undefined;
      await finishLayer(result.pending, parentDirs ? [parentDirs.dir, ...parentDirs.lowers] : []);
      await commitOnce(s, chainId, extractKey, stacked ? undefined : o.parent);
    } else {
      await o.below;
      await (layer.ready ?? Promise.resolve());
      await s.prepare(extractKey, o.parent, { labels: { 'berth.io/extracting': chainId } });
      await unpackInto(s, extractKey, open, layer, id, progress);
      await commitOnce(s, chainId, extractKey, undefined);
    }
    progress({ id, status: 'Pull complete' });
  } catch (err) {
    await s.remove(extractKey).catch(() => {});
    throw err;
  }
}

/** Commit unless another engine process got there first (then ours is dropped). */
async function commitOnce(s: Snapshotter, chainId: Digest, key: string, parent: Digest | undefined): Promise<void> {
  if ((await s.find(chainId))?.kind === 'committed') {
    await s.remove(key);
    return;
  }
  await syncFilesystem((await s.dirs(key)).dir);
  await s.commit(chainId, key, parent !== undefined && s.independentLayers ? { parent } : {});
}

/**
 * Crash safety of an unpack: files are written without fsync (one per file
 * would cost more than the unpack itself), and a layer is made durable as a
 * whole by one syncfs(2) of its filesystem right before its snapshot is
 * committed. So a committed snapshot is complete on disk even after a power
 * loss, and a crash before the commit leaves only an extraction snapshot,
 * which is never used and is removed at the next start
 * (removeStaleExtractions). Layers finishing while a sync runs share the
 * next one (a sync already under way may have started before their last
 * writes), so parallel layers cost about one sync each at most.
 */
let syncRunning: Promise<void> | undefined;
let syncQueued: Promise<void> | undefined;
function syncFilesystem(dir: string): Promise<void> {
  if (!syncRunning) {
    syncRunning = runSync(dir).finally(() => { syncRunning = undefined; });
    return syncRunning;
  }
  syncQueued ??= syncRunning.catch(() => {}).then(() => {
    syncQueued = undefined;
    return syncFilesystem(dir);
  });
  return syncQueued;
}

function runSync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // coreutils `sync -f` is syncfs(2), which Node does not expose.
    execFile('sync', ['-f', dir], (err, _stdout, stderr) => {
      if (err) reject(new BerthError('BERTH_SNAPSHOT_SYNC', `cannot flush unpacked layer ${dir} to disk: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

async function unpackInto(s: Snapshotter, key: string, open: () => Readable, layer: LayerSource, id: string, progress: ProgressSink): Promise<UnpackResult> {
  const dirs = await s.dirs(key);
  const total = layer.descriptor.size;
  let current = 0;
  let lastReport = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      // Docker-like progress lines, at most every 512 KiB
      if (current - lastReport >= 512 * 1024 || current === total) {
        lastReport = current;
        progress({ id, status: 'Extracting', current, total });
      }
      cb(null, chunk);
    },
  });
  const source = open();
  source.on('error', (err) => counter.destroy(err));
  const result = await unpackLayer(source.pipe(counter), {
    target: dirs.dir,
    whiteouts: dirs.whiteouts,
    layer: layer.descriptor.digest,
    mediaType: layer.descriptor.mediaType,
  });
  if (result.diffId !== layer.diffId) {
    throw new BerthError(
      'BERTH_SNAPSHOT_DIFFID_MISMATCH',
      `layer ${layer.descriptor.digest}: uncompressed content hashes to ${result.diffId}, but the image config says diff_id ${layer.diffId}; the layer is discarded`,
      { status: 400, detail: { layer: layer.descriptor.digest, expected: layer.diffId, actual: result.diffId } },
    );
  }
  return result;
}

/** At most n tasks at once. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly n: number;
  constructor(n: number) {
    this.n = Math.max(1, n);
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
