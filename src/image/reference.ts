import { BerthError } from '../common/errors.ts';
import { parseDigest } from '../content/digest.ts';
import type { Digest } from '../content/types.ts';

/**
 * Image references in Docker's grammar (github.com/distribution/reference):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *   domain     := host [":" port]      host := domain-name | IPv4 | "[" IPv6 "]"
 *   path-component := [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
 *   tag        := [\w][\w.-]{0,127}
 *
 * and its normalisation: a first component is a registry domain only if it
 * contains "." or ":", is "localhost", or has an uppercase letter; otherwise
 * the name lives on docker.io, and a single-component name there is under
 * "library/" (busybox → docker.io/library/busybox). The regular expressions
 * below are built the same way distribution's are, so ambiguous inputs such
 * as "test.com:5000" (name test.com, tag 5000) resolve identically.
 */

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** Longest name (domain + path) a registry accepts. */
export const NAME_TOTAL_LENGTH_MAX = 255;
export const TAG_LENGTH_MAX = 128;

/** A normalised reference: domain and path are always set; tag and digest are optional. */
export interface ImageReference {
  /** Registry domain with optional port: "docker.io", "localhost:5000", "[::1]:5000". */
  domain: string;
  /** Repository path within the registry: "library/busybox", "a/b". */
  path: string;
  tag?: string;
  digest?: Digest;
}

// --- grammar -------------------------------------------------------------

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePattern = `(?:${domainAndPort}/)?${remoteName}`;

const REFERENCE_RE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const ANCHORED_TAG_RE = new RegExp(`^${tagPattern}$`);
const ANCHORED_PATH_COMPONENT_RE = new RegExp(`^${pathComponent}$`);
const ANCHORED_DOMAIN_RE = new RegExp(`^${domainAndPort}$`);
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

function refError(code: string, input: string, why: string): BerthError {
  const shown = JSON.stringify(input.length > 300 ? input.slice(0, 300) + '…' : input);
  return new BerthError(code, `invalid reference format: ${shown}: ${why}`, { status: 400, detail: { reference: input } });
}

/**
 * Parse and normalise a reference as `docker pull` does, without adding a
 * default tag (see parseDockerRef). Throws BerthError (400) with one of:
 * BERTH_REFERENCE_EMPTY, BERTH_REFERENCE_INVALID_FORMAT,
 * BERTH_REFERENCE_INVALID_NAME, BERTH_REFERENCE_INVALID_DOMAIN,
 * BERTH_REFERENCE_INVALID_TAG, BERTH_REFERENCE_INVALID_DIGEST,
 * BERTH_REFERENCE_UPPERCASE, BERTH_REFERENCE_NAME_TOO_LONG,
 * BERTH_REFERENCE_HEX_ID — the message names the part that is wrong.
 */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) {
    throw new BerthError('BERTH_REFERENCE_EMPTY', 'invalid reference format: repository name must have at least one component', { status: 400 });
  }
  if (ANCHORED_ID_RE.test(input)) {
    throw refError('BERTH_REFERENCE_HEX_ID', input, 'a repository name cannot be a 64-character hexadecimal string (that is an image ID)');
  }
  const m = REFERENCE_RE.exec(input);
  if (!m) throw diagnose(input);
  const [, name, tag, digestText] = m as unknown as [string, string, string | undefined, string | undefined];
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw refError('BERTH_REFERENCE_NAME_TOO_LONG', input, `repository name is ${name.length} characters, more than ${NAME_TOTAL_LENGTH_MAX}`);
  }
  const { domain, path } = splitDockerDomain(name);
  if (path.toLowerCase() !== path) {
    throw refError('BERTH_REFERENCE_UPPERCASE', input, `repository name "${path}" must be lowercase`);
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digestText !== undefined) ref.digest = referenceDigest(input, digestText);
  return ref;
}

/** parseReference plus Docker's default tag: a reference with neither tag nor digest gets ":latest". */
export function parseDockerRef(input: string): ImageReference {
  return withDefaultTag(parseReference(input));
}

/** Like parseReference but refuses a tag or digest (for `docker tag` targets' repo part, `push` repos, filters). */
export function parseRepositoryName(input: string): ImageReference {
  const ref = parseReference(input);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw refError('BERTH_REFERENCE_INVALID_NAME', input, 'expected a repository name without tag or digest');
  }
  return ref;
}

export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

export function isTagged(ref: ImageReference): ref is ImageReference & { tag: string } {
  return ref.tag !== undefined;
}
export function isDigested(ref: ImageReference): ref is ImageReference & { digest: Digest } {
  return ref.digest !== undefined;
}

/** "docker.io/library/busybox" */
export function referenceName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Full normalised form: "docker.io/library/busybox:latest@sha256:…". */
export function referenceString(ref: ImageReference): string {
  return referenceName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The short name a user types: docker.io/library/busybox → busybox, docker.io/a/b → a/b. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX) && !ref.path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return ref.path;
}

/** "busybox:latest", "localhost:5000/a/b@sha256:…" — what `docker images` shows. */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** name:tag (digest dropped) — the form stored in RepoTags. */
export function tagString(ref: ImageReference & { tag: string }): string {
  return `${referenceName(ref)}:${ref.tag}`;
}

/** name@digest (tag dropped) — the form stored in RepoDigests. */
export function digestString(ref: ImageReference & { digest: Digest }): string {
  return `${referenceName(ref)}@${ref.digest}`;
}

/** Validate a tag on its own (`docker tag SRC repo:TAG`). */
export function validateTag(tag: string): string {
  if (!ANCHORED_TAG_RE.test(tag)) throw refError('BERTH_REFERENCE_INVALID_TAG', tag, tagProblem(tag));
  return tag;
}

/**
 * Split a name into registry domain and path the way Docker does. Exported
 * for the registry client (which maps docker.io to its real endpoint).
 */
export function splitDockerDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  let domain: string;
  let path: string;
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = first;
    path = name.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

function referenceDigest(input: string, text: string): Digest {
  try {
    return parseDigest(text, 'digest');
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^digest: /, '') : String(err);
    throw refError('BERTH_REFERENCE_INVALID_DIGEST', input, `digest part ${why}`);
  }
}

function tagProblem(tag: string): string {
  if (tag.length === 0) return 'tag is empty';
  if (tag.length > TAG_LENGTH_MAX) return `tag is ${tag.length} characters, more than ${TAG_LENGTH_MAX}`;
  if (!/^\w/.test(tag)) return `tag "${tag}" must start with a letter, digit or underscore`;
  return `tag "${tag}" may contain only letters, digits, "_", "." and "-"`;
}

/** The whole reference did not match: find the part that is wrong and say so. */
function diagnose(input: string): BerthError {
  let rest = input;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const digestText = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (rest.length === 0) return refError('BERTH_REFERENCE_INVALID_FORMAT', input, 'repository name is missing before "@"');
    referenceDigest(input, digestText);
    if (!new RegExp(`^${digestPattern}$`).test(digestText)) {
      return refError('BERTH_REFERENCE_INVALID_DIGEST', input, `digest part "${digestText}" is not "algorithm:hex"`);
    }
  }
  if (rest.startsWith('[') && !rest.includes('/')) {
    return refError('BERTH_REFERENCE_INVALID_NAME', input, 'a bracketed IPv6 registry address must be followed by "/repository"');
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon !== -1) {
    const tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (rest.length === 0) return refError('BERTH_REFERENCE_INVALID_FORMAT', input, 'repository name is missing before ":"');
    if (!ANCHORED_TAG_RE.test(tag)) return refError('BERTH_REFERENCE_INVALID_TAG', input, tagProblem(tag));
  }
  const parts = rest.split('/');
  const first = parts[0]!;
  const firstIsDomain = parts.length > 1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first || first.startsWith('['));
  if (firstIsDomain) {
    if (!ANCHORED_DOMAIN_RE.test(first)) {
      return refError('BERTH_REFERENCE_INVALID_DOMAIN', input, `registry "${first}" is not a valid host[:port]`);
    }
    parts.shift();
  }
  for (const part of parts) {
    if (part.length === 0) return refError('BERTH_REFERENCE_INVALID_NAME', input, 'repository name has an empty path component (leading, trailing or double "/")');
    if (!ANCHORED_PATH_COMPONENT_RE.test(part)) {
      if (part.toLowerCase() !== part && ANCHORED_PATH_COMPONENT_RE.test(part.toLowerCase())) {
        return refError('BERTH_REFERENCE_UPPERCASE', input, `repository name component "${part}" must be lowercase`);
      }
      return refError(
        'BERTH_REFERENCE_INVALID_NAME',
        input,
        `repository name component "${part}" may contain only lowercase letters, digits and single separators (".", "_", "__", "-") between them`,
      );
    }
  }
  return refError('BERTH_REFERENCE_INVALID_FORMAT', input, 'does not match [registry/]name[:tag][@digest]');
}
