import { BerthError } from '../common/errors.ts';

/** A config.json problem: names the field, HTTP 400 at API boundaries. */
export function configError(field: string, message: string): BerthError {
  return new BerthError('BERTH_RUNTIME_CONFIG_INVALID', `config.json: ${field}: ${message}`, { status: 400 });
}

export function runtimeError(code: string, message: string, status = 500): BerthError {
  return new BerthError(code, message, { status });
}
