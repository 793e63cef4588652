/**
 * Request bodies. JSON bodies are size-limited and parsed defensively: a body
 * larger than the limit or that is not JSON is a 400 with a message saying
 * which, never a crash and never an unbounded buffer.
 */
import type { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';

/** Docker's own JSON bodies (container create, auth) are a few KiB; 4 MiB is generous. */
export const DEFAULT_JSON_LIMIT = 4 * 1024 * 1024;

export async function readLimited(source: Readable, limit: number, declaredLength?: number): Promise<Buffer> {
  if (declaredLength !== undefined && declaredLength > limit) {
    source.resume();
    throw new BerthError(
      'BERTH_API_BODY_TOO_LARGE',
      `request body too large: ${declaredLength} bytes, the limit for JSON bodies is ${limit} bytes`,
      { status: 400 },
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > limit) {
      // Drain the rest so the connection can answer, but keep none of it.
      source.resume();
      throw new BerthError(
        'BERTH_API_BODY_TOO_LARGE',
        `request body too large: more than ${limit} bytes, the limit for JSON bodies is ${limit} bytes`,
        { status: 400 },
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** Parse a JSON body; empty bodies give `undefined`. */
export function parseJsonBody(bytes: Buffer, contentType: string | undefined): unknown {
  const text = bytes.toString('utf8');
  if (text.trim() === '') return undefined;
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType.trim())) {
    throw new BerthError(
      'BERTH_API_CONTENT_TYPE',
      `unsupported Content-Type header (${contentType}): must be 'application/json'`,
      { status: 400 },
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BerthError('BERTH_API_BAD_JSON', `invalid JSON in request body: ${(err as Error).message}`, {
      status: 400,
    });
  }
}
