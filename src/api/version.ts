/**
 * Engine API versioning: paths may carry /v1.NN/; the server answers in the
 * version the client asked for if it is within [MIN_API_VERSION, API_VERSION],
 * and refuses others with Docker's wording (400).
 */
import { BerthError } from '../common/errors.ts';
import { API_VERSION, MIN_API_VERSION } from '../common/config.ts';

const VERSIONED = /^\/v(\d+\.\d+)(\/.*)$/;

export interface VersionedPath {
  /** The version in the path, or undefined for unversioned paths. */
  version: string | undefined;
  path: string;
}

export function splitVersion(path: string): VersionedPath {
  const m = VERSIONED.exec(path);
  if (!m) return { version: undefined, path };
  return { version: m[1], path: m[2]! };
}

/** Compare dotted versions numerically: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The version a request is served at; throws Docker's 400 for out-of-range versions. */
export function effectiveVersion(
  requested: string | undefined,
  min: string = MIN_API_VERSION,
  max: string = API_VERSION,
): string {
  if (requested === undefined) return max;
  if (compareVersions(requested, min) < 0) {
    throw new BerthError(
      'BERTH_API_VERSION_TOO_OLD',
      `client version ${requested} is too old. Minimum supported API version is ${min}, please upgrade your client to a newer version`,
      { status: 400 },
    );
  }
  if (compareVersions(requested, max) > 0) {
    throw new BerthError(
      'BERTH_API_VERSION_TOO_NEW',
      `client version ${requested} is too new. Maximum supported API version is ${max}`,
      { status: 400 },
    );
  }
  return requested;
}

/** What a client should use after pinging: the lower of its own and the server's. */
export function negotiateVersion(clientMax: string, serverVersion: string | undefined): string {
  if (!serverVersion) return clientMax;
  return compareVersions(serverVersion, clientMax) < 0 ? serverVersion : clientMax;
}
