/**
 * Image archives: `docker import`, `docker save`, `docker load`.
 *
 *   importRootfs(store, tarStream, { ref?, changes?, message?, source?, platform?, onProgress? }) → ImportResult
 *   saveImages(store, refs, { format?: 'docker' | 'oci', tmpDir? }) → Readable (a tar)
 *   loadImages(store, tarStream, { onProgress?, tmpDir?, maxJsonBytes?, platform? }) → { loaded, images }
 *
 * `store` is an ArchiveImageStore; archiveImageStore(content, imageStore, { afterAdd? })
 * builds one from berth's content store and image database.
 */
export { importRootfs } from './import.ts';
export { saveImages } from './save.ts';
export { loadImages } from './load.ts';
export { applyChanges } from './changes.ts';
export { archiveImageStore } from './image-store-adapter.ts';
export type {
  ArchiveImageStore,
  ImportOptions,
  ImportResult,
  LoadOptions,
  LoadResult,
  LoadedImage,
  ResolvedImage,
  SaveFormat,
  SaveOptions,
} from './types.ts';
