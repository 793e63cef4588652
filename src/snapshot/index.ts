/**
 * Layers and snapshots: the public surface other areas use.
 *
 *   const snapshots = await openSnapshotter({ dataRoot });          // overlayfs, or the copying fallback
 *   const { snapshotKey } = await applyImageLayers({ store, snapshotter: snapshots, layers, diffIds, onProgress });
 *   const mounts = await snapshots.prepare(containerId, snapshotKey); // then mountAll(mounts, rootfs)
 *   const layer = await writeDiffLayer(await snapshots.dirs(containerId), store); // commit / build
 */
export type { Snapshotter, SnapshotInfo, SnapshotKind, Mount, Usage, SnapshotOptions, CommitOptions, SnapshotDirs } from './types.ts';
export { openSnapshotter, overlaySupported, type SnapshotterName, type OpenSnapshotterOptions } from './open.ts';
export { mountAll, unmount } from './mount.ts';
export {
  applyImageLayers, unpackImage, startProgressiveUnpack, chainIds, unpackedPrefix, removeStaleExtractions,
  type LayerSource, type ProgressiveUnpack, type UnpackImageOptions, type UnpackedImage, type ApplyImageLayersOptions,
} from './layers.ts';
export { applyLayer, unpackLayer, cleanEntryPath, type UnpackOptions, type UnpackResult, type WhiteoutMode, type PendingLowerChecks } from './apply.ts';
export { finishLayer } from './lower-layers.ts';
export { changes, changesSize, diffLayer, writeDiffLayer, type Change, type ChangeKind, type DiffOptions, type DiffStream, type StoredLayer } from './diff.ts';
