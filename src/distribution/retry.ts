/** When and how long to wait before trying a registry request again. */
import { isBerthError } from '../common/errors.ts';

/** Worth another try: connection trouble, a registry that is overloaded or failing (5xx, 429). */
export function isRetryable(err: unknown): boolean {
  if (!isBerthError(err)) return false;
  switch (err.code) {
    case 'BERTH_DISTRIBUTION_CONNECT_FAILED':
    case 'BERTH_DISTRIBUTION_TIMEOUT':
    case 'BERTH_DISTRIBUTION_TOO_MANY_REQUESTS':
      return true;
    case 'BERTH_DISTRIBUTION_REGISTRY_ERROR':
      return err.status >= 500;
    default:
      return false;
  }
}

/** 250 ms, 500 ms, 1 s … (at most 4 s) before retry number `attempt + 1`. */
export async function backoff(attempt: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = Math.min(4000, 250 * 2 ** attempt);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
