import { BerthError } from '../common/errors.ts';
import { isDigest } from '../content/digest.ts';
import type { Digest } from '../content/types.ts';
import {
  CONFIG_MEDIA_TYPES,
  MediaTypes,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../oci/image-spec.ts';

/**
 * Parsing and validation of the four manifest formats berth handles — OCI
 * image manifest, OCI image index, Docker manifest v2 schema 2 and Docker
 * manifest list — and of image configs. Everything arriving from a registry,
 * an archive or the API passes through here, so the checks are strict and
 * every error names the field that is wrong (`layers[2].digest`).
 */

/** The distribution registry's limit; also guards against memory blow-up from a hostile peer. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Configs carry history and env; Docker's own limit for them is 8 MiB. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

/** Content-Type values that say nothing about the manifest format (some registries send them). */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);

function invalid(where: string, why: string): BerthError {
  return new BerthError('BERTH_MANIFEST_INVALID', `invalid manifest: ${where}: ${why}`, { status: 400, detail: { field: where } });
}

/**
 * Parse manifest bytes. `contentType` is the registry's Content-Type (or the
 * descriptor's mediaType) when known; the document's own `mediaType` must
 * agree with it. Throws BerthError with codes BERTH_MANIFEST_TOO_LARGE,
 * BERTH_MANIFEST_INVALID_JSON, BERTH_MANIFEST_UNSUPPORTED_SCHEMA,
 * BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE, BERTH_MANIFEST_INVALID.
 */
export function parseManifest(bytes: Uint8Array | string, contentType?: string): ParsedManifest {
  const doc = parseJsonObject(bytes, MAX_MANIFEST_BYTES, 'manifest', 'BERTH_MANIFEST');
  const hint = contentType === undefined ? '' : contentType.split(';')[0]!.trim().toLowerCase();
  const declared = doc.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType', 'must be a string');

  if (doc.schemaVersion === 1 || isSchema1(declared) || isSchema1(hint)) {
    throw new BerthError(
      'BERTH_MANIFEST_UNSUPPORTED_SCHEMA',
      'unsupported manifest: Docker image manifest schema 1 is deprecated and not supported; push the image again with a current client to upgrade it',
      { status: 400 },
    );
  }
  if (doc.schemaVersion !== 2) {
    throw new BerthError('BERTH_MANIFEST_UNSUPPORTED_SCHEMA', `unsupported manifest: schemaVersion is ${JSON.stringify(doc.schemaVersion)}, expected 2`, { status: 400 });
  }

  if (declared !== undefined && !GENERIC_CONTENT_TYPES.has(hint) && declared !== hint) {
    throw invalid('mediaType', `document says "${declared}" but it was served as "${hint}"`);
  }
  let mediaType = declared ?? (GENERIC_CONTENT_TYPES.has(hint) ? undefined : hint);
  if (mediaType === undefined) {
    // OCI allows omitting mediaType; tell the two OCI shapes apart by their fields.
    if (Array.isArray(doc.manifests)) mediaType = MediaTypes.ociIndex;
    else if (doc.config !== undefined && Array.isArray(doc.layers)) mediaType = MediaTypes.ociManifest;
    else throw new BerthError('BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE', 'unknown manifest: no mediaType, and neither "manifests" nor "config"/"layers" present', { status: 400 });
  }

  if (isManifestMediaType(mediaType)) {
    if (doc.manifests !== undefined) throw invalid('manifests', `not allowed in ${mediaType}`);
    const manifest: ImageManifest = {
      ...(doc as object),
      schemaVersion: 2,
      config: parseDescriptor(doc.config, 'config'),
      layers: parseDescriptorArray(doc.layers, 'layers'),
    } as ImageManifest;
    if (declared !== undefined) manifest.mediaType = declared;
    checkOptionalFields(doc, manifest);
    return { kind: 'manifest', mediaType, manifest };
  }
  if (isIndexMediaType(mediaType)) {
    if (doc.config !== undefined || doc.layers !== undefined) throw invalid('config', `"config" and "layers" are not allowed in ${mediaType}`);
    const index: ImageIndex = { ...(doc as object), schemaVersion: 2, manifests: parseDescriptorArray(doc.manifests, 'manifests') } as ImageIndex;
    checkOptionalFields(doc, index);
    return { kind: 'index', mediaType, index };
  }
  throw new BerthError(
    'BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE',
    `unknown manifest media type "${mediaType}": berth understands ${[MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList].join(', ')}`,
    { status: 400, detail: { mediaType } },
  );
}

/**
 * The manifest describes a container image berth can unpack: an image config
 * and layers of known media types. (Other artifacts — Helm charts, signatures —
 * are valid manifests but not images.)
 */
export function assertImageManifest(manifest: ImageManifest, where = 'manifest'): void {
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
    throw new BerthError(
      'BERTH_MANIFEST_NOT_AN_IMAGE',
      `${where}: config media type "${manifest.config.mediaType}" is not a container image config (is this an artifact rather than an image?)`,
      { status: 400, detail: { mediaType: manifest.config.mediaType } },
    );
  }
  manifest.layers.forEach((layer, i) => {
    if (!isLayerMediaType(layer.mediaType)) {
      throw new BerthError('BERTH_MANIFEST_UNKNOWN_LAYER_MEDIA_TYPE', `${where}: layers[${i}] has unknown media type "${layer.mediaType}"`, {
        status: 400,
        detail: { mediaType: layer.mediaType, index: i },
      });
    }
  });
}

/** Parse and validate an image config blob (OCI or Docker). Throws BERTH_CONFIG_*. */
export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  const doc = parseJsonObject(bytes, MAX_CONFIG_BYTES, 'image config', 'BERTH_CONFIG');
  const bad = (where: string, why: string) =>
    new BerthError('BERTH_CONFIG_INVALID', `invalid image config: ${where}: ${why}`, { status: 400, detail: { field: where } });
  if (typeof doc.architecture !== 'string' || doc.architecture === '') throw bad('architecture', 'must be a non-empty string');
  if (typeof doc.os !== 'string' || doc.os === '') throw bad('os', 'must be a non-empty string');
  if (doc.variant !== undefined && typeof doc.variant !== 'string') throw bad('variant', 'must be a string');
  for (const k of ['created', 'author'] as const) {
    if (doc[k] !== undefined && typeof doc[k] !== 'string') throw bad(k, 'must be a string');
  }
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (!isObject(rootfs)) throw bad('rootfs', 'must be an object');
  if (rootfs.type !== 'layers') throw bad('rootfs.type', `must be "layers", got ${JSON.stringify(rootfs.type)}`);
  if (!Array.isArray(rootfs.diff_ids)) throw bad('rootfs.diff_ids', 'must be an array');
  rootfs.diff_ids.forEach((d, i) => {
    if (!isDigest(d)) throw bad(`rootfs.diff_ids[${i}]`, `${JSON.stringify(d)} is not a sha256 digest`);
  });
  if (doc.config !== undefined && doc.config !== null && !isObject(doc.config)) throw bad('config', 'must be an object');
  if (isObject(doc.config)) checkContainerConfig(doc.config, bad);
  if (doc.history !== undefined && doc.history !== null) {
    if (!Array.isArray(doc.history)) throw bad('history', 'must be an array');
    doc.history.forEach((h, i) => {
      if (!isObject(h)) throw bad(`history[${i}]`, 'must be an object');
    });
    // A history that does not line up with diff_ids (seen from some builders)
    // is accepted: history() pairs entries with layers as far as they go.
  }
  return doc as unknown as ImageConfig;
}

function checkContainerConfig(c: Record<string, unknown>, bad: (where: string, why: string) => BerthError): void {
  const stringArrays = ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell'];
  for (const k of stringArrays) {
    const v = c[k];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(`config.${k}`, 'must be an array of strings');
  }
  for (const k of ['User', 'WorkingDir', 'StopSignal']) {
    if (c[k] !== undefined && c[k] !== null && typeof c[k] !== 'string') throw bad(`config.${k}`, 'must be a string');
  }
  for (const k of ['Labels']) {
    const v = c[k];
    if (v === undefined || v === null) continue;
    if (!isObject(v) || Object.values(v).some((s) => typeof s !== 'string')) throw bad(`config.${k}`, 'must be an object of strings');
  }
  for (const k of ['ExposedPorts', 'Volumes']) {
    const v = c[k];
    if (v !== undefined && v !== null && !isObject(v)) throw bad(`config.${k}`, 'must be an object');
  }
}

/** Validate one descriptor; `where` names it in errors (e.g. "layers[3]"). */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(where, 'must be an object (a descriptor)');
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType`, 'must be a non-empty string');
  if (!isDigest(digest)) {
    const shown = JSON.stringify(typeof digest === 'string' && digest.length > 90 ? digest.slice(0, 90) + '…' : digest);
    const alg = typeof digest === 'string' ? digest.split(':')[0] : '';
    const why = typeof digest === 'string' && alg !== 'sha256' && /^[a-z0-9]+:/.test(digest) ? `uses unsupported algorithm "${alg}" (berth supports sha256)` : 'is not "sha256:<64 lowercase hex>"';
    throw invalid(`${where}.digest`, `${shown} ${why}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size`, `must be a non-negative integer, got ${JSON.stringify(size)}`);
  if (value.urls !== undefined && (!Array.isArray(value.urls) || value.urls.some((u) => typeof u !== 'string'))) {
    throw invalid(`${where}.urls`, 'must be an array of strings');
  }
  if (value.annotations !== undefined) checkStringMap(value.annotations, `${where}.annotations`);
  if (value.platform !== undefined) checkPlatform(value.platform, `${where}.platform`);
  if (value.data !== undefined && typeof value.data !== 'string') throw invalid(`${where}.data`, 'must be a base64 string');
  return value as unknown as Descriptor;
}

function parseDescriptorArray(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(where, 'must be an array of descriptors');
  return value.map((d, i) => parseDescriptor(d, `${where}[${i}]`));
}

function checkPlatform(value: unknown, where: string): asserts value is Platform {
  if (!isObject(value)) throw invalid(where, 'must be an object');
  if (typeof value.os !== 'string') throw invalid(`${where}.os`, 'must be a string');
  if (typeof value.architecture !== 'string') throw invalid(`${where}.architecture`, 'must be a string');
  if (value.variant !== undefined && typeof value.variant !== 'string') throw invalid(`${where}.variant`, 'must be a string');
}

function checkStringMap(value: unknown, where: string): void {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw invalid(where, 'must be an object of strings');
}

function checkOptionalFields(doc: Record<string, unknown>, out: { subject?: Descriptor }): void {
  if (doc.annotations !== undefined) checkStringMap(doc.annotations, 'annotations');
  if (doc.subject !== undefined) out.subject = parseDescriptor(doc.subject, 'subject');
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw invalid('artifactType', 'must be a string');
}

function isSchema1(mediaType: unknown): boolean {
  return mediaType === MediaTypes.dockerManifestV1 || mediaType === MediaTypes.dockerManifestV1Signed;
}

function parseJsonObject(bytes: Uint8Array | string, limit: number, what: string, codePrefix: string): Record<string, unknown> {
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  if (length > limit) {
    throw new BerthError(`${codePrefix}_TOO_LARGE`, `${what} is ${length} bytes, larger than the ${limit}-byte limit`, { status: 400 });
  }
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new BerthError(`${codePrefix}_INVALID_JSON`, `${what} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, { status: 400 });
  }
  if (!isObject(doc)) throw new BerthError(`${codePrefix}_INVALID_JSON`, `${what} must be a JSON object, got ${Array.isArray(doc) ? 'an array' : typeof doc}`, { status: 400 });
  return doc;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The layer diff IDs of a config, typed. */
export function diffIds(config: ImageConfig): Digest[] {
  return config.rootfs.diff_ids;
}
