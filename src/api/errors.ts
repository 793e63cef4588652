/**
 * Any thrown value → Docker's error answer: a status and `{"message": …}`.
 * BerthError carries its own status; Node's filesystem errors map to what a
 * user would expect; everything else is a 500 whose message is still shown.
 */
import { BerthError } from '../common/errors.ts';

export interface ApiErrorAnswer {
  status: number;
  message: string;
}

export function toApiError(err: unknown): ApiErrorAnswer {
  if (err instanceof BerthError) {
    const status = err.status >= 400 && err.status <= 599 ? err.status : 500;
    return { status, message: err.message };
  }
  const errno = err as NodeJS.ErrnoException;
  if (errno && typeof errno === 'object' && typeof errno.code === 'string') {
    if (errno.code === 'ENOENT') return { status: 404, message: errno.message };
    if (errno.code === 'EEXIST') return { status: 409, message: errno.message };
    if (errno.code === 'EACCES' || errno.code === 'EPERM') return { status: 403, message: errno.message };
  }
  if (err instanceof Error) return { status: 500, message: err.message };
  return { status: 500, message: String(err) };
}

export const badRequest = (code: string, message: string) => new BerthError(code, message, { status: 400 });
