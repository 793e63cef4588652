/**
 * The one place for the wire types of the OCI image spec (v1.1) and Docker's
 * image formats (manifest v2 schema 2, manifest list, container image config).
 * Field names are exactly as they appear in JSON, so values parsed from the
 * registry or written to disk need no mapping. Everything else in berth
 * imports these rather than declaring its own shapes.
 */
import type { Digest } from '../content/types.ts';

export type { Digest };

// ---------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------

export const MediaTypes = {
  // OCI image spec
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTarZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated in OCI 1.1 but still seen in the wild; treated like foreign layers. */
  ociLayerNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableTarGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableTarZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  // Docker image formats
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Some producers label uncompressed layers this way. */
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayerTarGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
  /** Schema 1 manifests: recognised only to refuse them with a clear message. */
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type MediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

/** Single-image manifests (what a platform resolves to). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];
/** Multi-platform indexes. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
/** What berth sends in Accept when fetching a manifest from a registry. */
export const ACCEPTED_MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociIndex,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
];
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaTypes.ociConfig, MediaTypes.dockerConfig];

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerMediaTypeInfo {
  compression: LayerCompression;
  /** Foreign / non-distributable: never pushed, may be fetched from `urls`. */
  nondistributable: boolean;
}

const LAYER_MEDIA_TYPES: Record<string, LayerMediaTypeInfo> = {
  [MediaTypes.ociLayerTar]: { compression: 'none', nondistributable: false },
  [MediaTypes.ociLayerTarGzip]: { compression: 'gzip', nondistributable: false },
  [MediaTypes.ociLayerTarZstd]: { compression: 'zstd', nondistributable: false },
  [MediaTypes.ociLayerNondistributableTar]: { compression: 'none', nondistributable: true },
  [MediaTypes.ociLayerNondistributableTarGzip]: { compression: 'gzip', nondistributable: true },
  [MediaTypes.ociLayerNondistributableTarZstd]: { compression: 'zstd', nondistributable: true },
  [MediaTypes.dockerLayerTarGzip]: { compression: 'gzip', nondistributable: false },
  [MediaTypes.dockerLayerTar]: { compression: 'none', nondistributable: false },
  [MediaTypes.dockerForeignLayerTarGzip]: { compression: 'gzip', nondistributable: true },
};

/** Compression and distributability of a layer media type, or undefined if it is not a layer type berth knows. */
export function layerMediaTypeInfo(mediaType: string): LayerMediaTypeInfo | undefined {
  return LAYER_MEDIA_TYPES[mediaType];
}

export function isLayerMediaType(mediaType: string): boolean {
  return mediaType in LAYER_MEDIA_TYPES;
}
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType);
}
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mediaType);
}

// ---------------------------------------------------------------------------
// Descriptors and platforms
// ---------------------------------------------------------------------------

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

/** A content descriptor: points at a blob by digest, with size and media type. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  /** Only meaningful inside an index / manifest list. */
  platform?: Platform;
  artifactType?: string;
}

// ---------------------------------------------------------------------------
// Manifests and indexes
// ---------------------------------------------------------------------------

/** OCI image manifest and Docker manifest v2 schema 2 share this shape. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** OCI image index and Docker manifest list share this shape. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The `oci-layout` file at the root of an image layout. */
export interface OciLayoutFile {
  imageLayoutVersion: '1.0.0';
}
export const OCI_LAYOUT_VERSION = '1.0.0';

/** Well-known annotation keys. */
export const Annotations = {
  refName: 'org.opencontainers.image.ref.name',
  created: 'org.opencontainers.image.created',
  /** containerd's convention for the full image name inside an OCI layout's index.json. */
  containerdImageName: 'io.containerd.image.name',
} as const;

// ---------------------------------------------------------------------------
// Image configuration
// ---------------------------------------------------------------------------

export interface HealthConfig {
  /** ["NONE"], ["CMD", ...], ["CMD-SHELL", cmd]; empty inherits. */
  Test?: string[];
  /** Durations are nanoseconds, as in Docker's JSON. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * The execution parameters of an image (`config` in the image config). The
 * OCI subset plus the fields Docker adds (Healthcheck, OnBuild, ArgsEscaped,
 * and the container-only fields that appear in `container_config`).
 */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  // Docker extensions
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  StopTimeout?: number;
  // Docker container-only fields (seen in container_config of older images)
  Hostname?: string;
  Domainname?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Image?: string;
  NetworkDisabled?: boolean;
  MacAddress?: string;
}

export interface RootFs {
  type: 'layers';
  diff_ids: Digest[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** application/vnd.oci.image.config.v1+json and application/vnd.docker.container.image.v1+json. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: HistoryEntry[];
  // Docker extensions
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  comment?: string;
  /** Legacy: ID of the parent image in the builder's local store. */
  parent?: string;
  id?: string;
}

// ---------------------------------------------------------------------------
// docker-archive (docker save) manifest.json — shared by import/export
// ---------------------------------------------------------------------------

export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}
