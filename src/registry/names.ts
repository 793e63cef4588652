/**
 * The grammar of the distribution spec for repository names, tags and
 * digests. Everything from a URL passes through here before it touches the
 * filesystem, so these checks are also what keeps the registry inside --root.
 */
import type { Digest } from '../content/types.ts';
import { registryError } from './errors.ts';
import { parseDigest as parseContentDigest, digestHex } from '../content/digest.ts';
import { errorMessage } from '../common/errors.ts';

/** `<name>`: path components of lowercase alphanumerics joined by `.`, `_`, `__` or dashes. */
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Distribution's limit; hostname plus name must stay under 256 characters. */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function checkRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw registryError('NAME_INVALID', `invalid repository name "${truncate(name)}": must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)* and be at most ${MAX_NAME_LENGTH} characters`, { name });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isDigestLike(reference: string): boolean {
  return reference.includes(':');
}

/**
 * Parse a digest from a URL, query or manifest field with the content store's
 * strict grammar (sha256 only; other algorithms are refused by name), as the
 * spec's DIGEST_INVALID so a client learns which part was wrong.
 */
export function parseDigest(value: string | null | undefined, where: string): Digest {
  if (value === null || value === undefined || value === '') {
    throw registryError('DIGEST_INVALID', `missing digest in ${where}`);
  }
  try {
    return parseContentDigest(value, where);
  } catch (err) {
    throw registryError('DIGEST_INVALID', errorMessage(err), { digest: value.length > 100 ? value.slice(0, 100) : value });
  }
}

/** A manifest reference: a digest or a tag. */
export type ManifestReference = { kind: 'digest'; digest: Digest } | { kind: 'tag'; tag: string };

export function parseManifestReference(reference: string): ManifestReference {
  if (isDigestLike(reference)) return { kind: 'digest', digest: parseDigest(reference, 'manifest reference') };
  if (!isValidTag(reference)) {
    throw registryError('MANIFEST_INVALID', `invalid tag "${truncate(reference)}": must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, { tag: reference }, 400);
  }
  return { kind: 'tag', tag: reference };
}

export const hexOf: (digest: Digest) => string = digestHex;

function truncate(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
