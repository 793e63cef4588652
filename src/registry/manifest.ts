/**
 * Parse and validate a manifest pushed to the registry. The bytes are stored
 * exactly as received; this only decides whether they are a manifest we
 * accept, what media type they are served with, and which blobs/manifests
 * they reference (so the push can be refused with MANIFEST_BLOB_UNKNOWN).
 */
import type { Digest } from '../content/types.ts';
import { registryError } from './errors.ts';
import { parseDigest } from './names.ts';
import { MediaTypes, layerMediaTypeInfo, type Descriptor } from '../oci/image-spec.ts';
import { STORABLE_MANIFEST_MEDIA_TYPES as MANIFEST_MEDIA_TYPES, type ManifestKind } from './types.ts';

export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /** Blobs that must exist in the repository (config + layers). */
  blobs: Descriptor[];
  /** Manifests an index points to; they must exist in the repository. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** Value for the referrers API, per the spec's rule. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Media type of a Content-Type header without parameters (the spec says ignore them). */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const bare = contentType.split(';')[0]!.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}

export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw registryError('MANIFEST_INVALID', `manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw registryError('MANIFEST_INVALID', 'manifest must be a JSON object');

  const headerType = bareMediaType(contentType);
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') {
    throw registryError('MANIFEST_INVALID', 'manifest field "mediaType" must be a string');
  }
  if (doc.schemaVersion === 1 || headerType === MediaTypes.dockerManifestV1 || headerType === MediaTypes.dockerManifestV1Signed) {
    throw registryError('MANIFEST_INVALID', 'Docker image manifest schema 1 is not supported; push schema 2 or an OCI manifest', { mediaType: headerType ?? bodyType });
  }
  if (doc.schemaVersion !== 2) {
    throw registryError('MANIFEST_INVALID', `manifest field "schemaVersion" must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  }
  // The body's mediaType is authoritative when present; a client must send the same Content-Type.
  if (bodyType !== undefined && headerType !== undefined && headerType !== bodyType && MANIFEST_MEDIA_TYPES.includes(headerType)) {
    throw registryError('MANIFEST_INVALID', `Content-Type "${headerType}" does not match the manifest's mediaType "${bodyType}"`);
  }
  const mediaType = bodyType ?? (headerType && MANIFEST_MEDIA_TYPES.includes(headerType) ? headerType : guessMediaType(doc));
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw registryError('MANIFEST_INVALID', `unsupported manifest media type "${mediaType}": expected one of ${MANIFEST_MEDIA_TYPES.join(', ')}`, { mediaType });
  }

  const kind: ManifestKind = mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList ? 'index' : 'image';
  const annotations = optionalAnnotations(doc.annotations, 'annotations');
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, 'subject');
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') {
    throw registryError('MANIFEST_INVALID', 'manifest field "artifactType" must be a string');
  }

  if (kind === 'image') {
    const config = descriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw registryError('MANIFEST_INVALID', 'image manifest field "layers" must be an array');
    const layers = doc.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    if (mediaType === MediaTypes.dockerManifest && layers.length === 0) {
      throw registryError('MANIFEST_INVALID', 'Docker schema 2 manifest must have at least one layer');
    }
    const blobs = [config, ...layers.filter((l) => !(layerMediaTypeInfo(l.mediaType)?.nondistributable && l.urls && l.urls.length > 0))];
    return {
      mediaType,
      kind,
      blobs,
      manifests: [],
      subject,
      artifactType: (doc.artifactType as string | undefined) || config.mediaType,
      annotations,
    };
  }

  if (!Array.isArray(doc.manifests)) throw registryError('MANIFEST_INVALID', 'index field "manifests" must be an array');
  const manifests = doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
  return {
    mediaType,
    kind,
    blobs: [],
    manifests,
    subject,
    artifactType: (doc.artifactType as string | undefined) || undefined,
    annotations,
  };
}

/** A manifest without mediaType (allowed by OCI): decide by shape. */
function guessMediaType(doc: Record<string, unknown>): string {
  if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
  if (doc.config !== undefined || Array.isArray(doc.layers)) return MediaTypes.ociManifest;
  throw registryError('MANIFEST_INVALID', 'cannot tell the manifest type: no mediaType, no "manifests" and no "config"/"layers"');
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw registryError('MANIFEST_INVALID', `manifest field "${where}" must be a descriptor object`);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') {
    throw registryError('MANIFEST_INVALID', `manifest field "${where}.mediaType" must be a non-empty string`);
  }
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw registryError('MANIFEST_INVALID', `manifest field "${where}.size" must be a non-negative integer`);
  }
  if (typeof value.digest !== 'string') throw registryError('MANIFEST_INVALID', `manifest field "${where}.digest" must be a string`);
  let digest: Digest;
  try {
    digest = parseDigest(value.digest, `manifest field "${where}.digest"`);
  } catch (err) {
    throw registryError('MANIFEST_INVALID', (err as Error).message, { field: `${where}.digest` });
  }
  const d: Descriptor = { mediaType: value.mediaType, digest, size: value.size };
  if (value.artifactType !== undefined) {
    if (typeof value.artifactType !== 'string') throw registryError('MANIFEST_INVALID', `manifest field "${where}.artifactType" must be a string`);
    d.artifactType = value.artifactType;
  }
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) {
      throw registryError('MANIFEST_INVALID', `manifest field "${where}.urls" must be an array of strings`);
    }
    d.urls = value.urls as string[];
  }
  const annotations = optionalAnnotations(value.annotations, `${where}.annotations`);
  if (annotations) d.annotations = annotations;
  return d;
}

function optionalAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw registryError('MANIFEST_INVALID', `manifest field "${where}" must be an object of strings`);
  }
  return value as Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Accept header negotiation: does the client take `mediaType`? No Accept means "anything". */
export function acceptsMediaType(accept: string | string[] | undefined, mediaType: string): boolean {
  if (accept === undefined) return true;
  const values = (Array.isArray(accept) ? accept : [accept])
    .flatMap((a) => a.split(','))
    .map((a) => bareMediaType(a))
    .filter((a): a is string => a !== undefined);
  if (values.length === 0) return true;
  return values.some((a) => a === mediaType || a === '*/*' || a === 'application/*');
}

