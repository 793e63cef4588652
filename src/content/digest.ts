import { createHash } from 'node:crypto';
import { BerthError } from '../common/errors.ts';
import type { Digest } from './types.ts';

/**
 * Digest strings, validated strictly. berth stores and addresses content by
 * sha256 only; a digest that is malformed is a 400 with what was wrong, and a
 * well-formed digest of another algorithm is refused by name rather than being
 * silently treated as missing content.
 */
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** The OCI grammar: algorithm ":" encoded (for telling "malformed" from "unsupported"). */
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && SHA256_DIGEST.test(value);
}

/** Return `value` as a Digest or throw BERTH_CONTENT_INVALID_DIGEST / BERTH_CONTENT_UNSUPPORTED_DIGEST (400). */
export function parseDigest(value: unknown, where = 'digest'): Digest {
  if (isDigest(value)) return value;
  if (typeof value !== 'string') {
    throw new BerthError('BERTH_CONTENT_INVALID_DIGEST', `${where}: expected a digest string "sha256:<64 hex>", got ${typeof value}`, { status: 400 });
  }
  const shown = JSON.stringify(value.length > 100 ? value.slice(0, 100) + '…' : value);
  if (ANY_DIGEST.test(value)) {
    const [algorithm, encoded] = value.split(':', 2) as [string, string];
    if (algorithm === 'sha256') {
      const why = encoded.length !== 64 ? `${encoded.length} hex characters instead of 64` : 'characters other than lowercase hex';
      throw new BerthError('BERTH_CONTENT_INVALID_DIGEST', `${where}: invalid sha256 digest ${shown}: ${why}`, { status: 400 });
    }
    throw new BerthError('BERTH_CONTENT_UNSUPPORTED_DIGEST', `${where}: unsupported digest algorithm "${algorithm}" in ${shown}: berth only supports sha256`, { status: 400 });
  }
  throw new BerthError('BERTH_CONTENT_INVALID_DIGEST', `${where}: invalid digest ${shown}: expected "sha256:<64 lowercase hex>"`, { status: 400 });
}

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The 64 hex characters of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** Docker's 12-character short form (of an image ID or layer digest). */
export function shortDigest(digest: Digest): string {
  return digestHex(digest).slice(0, 12);
}
