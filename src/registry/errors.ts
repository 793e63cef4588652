/**
 * Registry errors: a BerthError whose code is BERTH_REGISTRY_<SPEC CODE>, and
 * which carries the distribution spec's own code so the HTTP layer can answer
 * `{"errors":[{code,message,detail}]}` with the right status.
 */
import { BerthError } from '../common/errors.ts';
import type { RegistryErrorCode } from './types.ts';

/** Status each spec code answers with unless a handler says otherwise. */
const DEFAULT_STATUS: Record<RegistryErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOO_MANY_REQUESTS: 429,
  UNKNOWN: 500,
};

export class RegistryError extends BerthError {
  readonly registryCode: RegistryErrorCode;

  constructor(registryCode: RegistryErrorCode, message: string, options: { status?: number; detail?: unknown; cause?: unknown } = {}) {
    super(`BERTH_REGISTRY_${registryCode}`, message, {
      status: options.status ?? DEFAULT_STATUS[registryCode],
      detail: options.detail,
      cause: options.cause,
    });
    this.registryCode = registryCode;
  }
}

export function registryError(code: RegistryErrorCode, message: string, detail?: unknown, status?: number): RegistryError {
  return new RegistryError(code, message, { detail, status });
}
