/**
 * Wire formats of the OCI distribution spec v1.1 as this server speaks them,
 * gathered in one place: error codes and bodies and the JSON documents we
 * answer with. Manifest shapes and media types are the image spec's, from
 * src/oci/image-spec.ts.
 */
import type { Digest } from '../content/types.ts';
import type { Descriptor } from '../oci/image-spec.ts';
import { MediaTypes } from '../oci/image-spec.ts';

/** The spec's error codes (section "Error Codes"), plus TOO_MANY_REQUESTS. */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOO_MANY_REQUESTS'
  /** Distribution's code for a server-side failure (500); not a client mistake. */
  | 'UNKNOWN';

export interface RegistryErrorEntry {
  code: RegistryErrorCode;
  message: string;
  detail?: unknown;
}

/** Body of every non-2xx answer: `{"errors":[{code,message,detail}]}`. */
export interface RegistryErrorBody {
  errors: RegistryErrorEntry[];
}

export type ManifestKind = 'image' | 'index';

/**
 * What the registry remembers about a stored manifest, derived once at PUT
 * time so GETs and the referrers API never re-parse the bytes.
 */
export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  kind: ManifestKind;
  /** Descriptor for the referrers API (artifactType rule of the spec applied). */
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: Digest;
}

/** GET /v2/<name>/tags/list */
export interface TagList {
  name: string;
  tags: string[];
}

/** GET /v2/_catalog */
export interface Catalog {
  repositories: string[];
}

/** GET /v2/<name>/referrers/<digest> answers an OCI image index. */
export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaTypes.ociIndex;
  manifests: Descriptor[];
}

/** Persisted state of one upload session (besides the ingest bytes). */
export interface UploadSession {
  uuid: string;
  repository: string;
  startedAt: string;
}

/** Manifest media types this registry stores and serves. */
export const STORABLE_MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
];

export type { Descriptor };
