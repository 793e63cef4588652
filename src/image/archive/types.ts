import type { ContentStore, Digest } from '../../content/types.ts';
import type { Descriptor, Platform } from '../../oci/image-spec.ts';
import type { ProgressSink } from '../../common/progress.ts';

/**
 * What import/save/load need from the image store, kept this small so the
 * archive code depends on a contract rather than on the store's internals.
 * The image service provides it (see adapter in ./service-adapter.ts).
 */
export interface ArchiveImageStore {
  readonly content: ContentStore;
  /**
   * Register an image whose manifest, config and layer blobs are already in
   * `content`. `tags` are full normalised references
   * (docker.io/library/busybox:latest); a tag that points elsewhere moves here,
   * as with `docker load`. Returns the image ID (the config digest).
   */
  addImage(input: { manifest: Descriptor; tags: string[] }): Promise<{ id: Digest }>;
  /** Look up an image by name, full or short ID, or digest reference, for save. Throws a 404 BerthError if unknown. */
  resolveImage(nameOrId: string): Promise<ResolvedImage>;
}

export interface ResolvedImage {
  id: Digest;
  /** The image's own manifest (a single-platform manifest, not an index). */
  manifest: Descriptor;
  /** Every full normalised tag that points at the image (docker.io/library/busybox:latest). */
  repoTags: string[];
}

export interface ImportOptions {
  /** Tag the new image with this reference (normalised: busybox → docker.io/library/busybox:latest). */
  ref?: string;
  /** Dockerfile instructions applied to the config: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL, ONBUILD. */
  changes?: string[];
  /** Commit message; default "Imported from <source>" as Docker writes it. */
  message?: string;
  /** Where the tarball came from, for the default message ("-" for stdin, or a URL). */
  source?: string;
  /** Target platform: "linux/arm64" or a Platform (default the host's, linux/amd64 here). */
  platform?: string | Partial<Platform>;
  onProgress?: ProgressSink;
}

export interface ImportResult {
  id: Digest;
  manifest: Descriptor;
  diffId: Digest;
  /** Full normalised tag, when `ref` was given. */
  tag?: string;
}

export type SaveFormat = 'docker' | 'oci';

export interface SaveOptions {
  /**
   * 'docker' (default): what `docker save` 25+ writes — manifest.json and
   * repositories for every docker/podman loader, plus an OCI layout
   * (index.json, oci-layout, blobs/sha256) with uncompressed layers.
   * 'oci': an OCI image layout tarball with the blobs exactly as stored.
   */
  format?: SaveFormat;
  /** Scratch space for decompressing layers (default os.tmpdir()). */
  tmpDir?: string;
}

export interface LoadOptions {
  onProgress?: ProgressSink;
  /** Scratch space for the archive's files (default: next to the content store, so blobs are renamed in, not copied). */
  tmpDir?: string;
  /** Largest JSON document (manifest.json, index.json, configs, manifests) accepted (default 16 MiB). */
  maxJsonBytes?: number;
  /** Platform chosen from multi-platform indexes in an OCI layout: "linux/arm64" or a Platform (default the host's). */
  platform?: string | Partial<Platform>;
}

export interface LoadedImage {
  id: Digest;
  /** Full normalised tags given to the image. */
  tags: string[];
}

export interface LoadResult {
  /** What Docker prints: "busybox:latest" per tag (familiar form), or the image ID for untagged images. */
  loaded: string[];
  images: LoadedImage[];
}
