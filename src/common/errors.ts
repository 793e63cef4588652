/**
 * One error type for the whole engine, in the manner of undici and fastify:
 * every failure a user can see carries a stable `code` (BERTH_<AREA>_<WHAT>)
 * that tests and clients match on, and the HTTP status the Engine API and the
 * registry answer with. The message says what went wrong and where.
 */
export interface BerthErrorOptions {
  /** HTTP status when this error crosses an API boundary (default 500). */
  status?: number;
  /** Structured detail for API error bodies (registry `detail`, etc.). */
  detail?: unknown;
  cause?: unknown;
}

export class BerthError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: unknown;

  constructor(code: string, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.status = options.status ?? 500;
    this.detail = options.detail;
  }
}

export function isBerthError(err: unknown, code?: string): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** Common constructors for the status classes every layer uses. */
export const notFound = (code: string, message: string, detail?: unknown) =>
  new BerthError(code, message, { status: 404, detail });
export const invalidArgument = (code: string, message: string, detail?: unknown) =>
  new BerthError(code, message, { status: 400, detail });
export const conflict = (code: string, message: string, detail?: unknown) =>
  new BerthError(code, message, { status: 409, detail });

/** Message of any thrown value, for logs and CLI output. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
