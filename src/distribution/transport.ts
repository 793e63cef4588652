/**
 * The HTTP layer of the registry client, on node:http/https directly: bodies
 * are streamed (a layer is never buffered), connections are kept alive and
 * shared, and redirects are followed by hand so that an Authorization header
 * meant for the registry is never sent to another origin (blob storage
 * backends redirect to S3-like hosts with signed URLs).
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });
/** For registries listed insecure: TLS without certificate verification (docker's behaviour). */
const httpsInsecureAgent = new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });

export type RequestBody = Uint8Array | (() => Readable | AsyncIterable<Uint8Array>);

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** Bytes, or a factory making a fresh stream (so the request can be repeated after a 401). */
  body?: RequestBody;
  /** Follow 3xx with Location (GET/HEAD only). Default true. */
  followRedirects?: boolean;
  /** Skip TLS certificate checks (insecure registries only). */
  insecureTls?: boolean;
  /** Socket idle timeout in ms (default 120 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Final URL after redirects. */
  url: URL;
  body: IncomingMessage;
}

/** BERTH_DEBUG_HTTP=1 logs each request line and status to stderr (never headers: they carry credentials). */
const DEBUG = !!process.env.BERTH_DEBUG_HTTP;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  const headers = { ...(req.headers ?? {}) };
  const follow = req.followRedirects ?? true;
  for (let hop = 0; ; hop++) {
    const res = await sendOnce({ ...req, url, headers });
    const location = res.headers.location;
    if (!follow || !REDIRECT_STATUSES.has(res.status) || !location || !(req.method === 'GET' || req.method === 'HEAD')) {
      return res;
    }
    res.body.resume();
    if (hop >= MAX_REDIRECTS) {
      throw new BerthError('BERTH_DISTRIBUTION_TOO_MANY_REDIRECTS', `${req.method} ${req.url.href}: more than ${MAX_REDIRECTS} redirects`, { status: 502 });
    }
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new BerthError('BERTH_DISTRIBUTION_BAD_REDIRECT', `${req.method} ${url.href} redirected to unsupported URL ${next.href}`, { status: 502 });
    }
    if (url.protocol === 'https:' && next.protocol === 'http:') {
      throw new BerthError('BERTH_DISTRIBUTION_BAD_REDIRECT', `${req.method} ${url.href} redirected from HTTPS down to plain HTTP (${next.href}); refused`, { status: 502 });
    }
    if (next.origin !== url.origin) {
      // Credentials are for the registry, not for wherever it sends us.
      for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    }
    url = next;
  }
}

function sendOnce(req: HttpRequest & { headers: Record<string, string> }): Promise<HttpResponse> {
  const { url } = req;
  const isHttps = url.protocol === 'https:';
  const lib = isHttps ? https : http;
  const agent = isHttps ? (req.insecureTls ? httpsInsecureAgent : httpsAgent) : httpAgent;
  const headers: Record<string, string> = { 'user-agent': 'berth/0.1', ...req.headers };
  let bodyBytes: Uint8Array | undefined;
  let bodyStream: Readable | AsyncIterable<Uint8Array> | undefined;
  if (req.body instanceof Uint8Array) {
    bodyBytes = req.body;
    headers['content-length'] = String(bodyBytes.byteLength);
  } else if (typeof req.body === 'function') {
    bodyStream = req.body();
  } else if (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH') {
    headers['content-length'] ??= '0';
  }
  return new Promise((resolve, reject) => {
    const started = DEBUG ? Date.now() : 0;
    const clientReq = lib.request(url, { method: req.method, headers, agent, signal: req.signal }, (res) => {
      if (DEBUG) process.stderr.write(`berth http: ${req.method} ${url.href} -> ${res.statusCode} (${Date.now() - started} ms)\n`);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    clientReq.setTimeout(req.timeoutMs ?? 120_000, () => {
      clientReq.destroy(new BerthError('BERTH_DISTRIBUTION_TIMEOUT', `${req.method} ${url.href}: no data for ${(req.timeoutMs ?? 120_000) / 1000} s`, { status: 504 }));
    });
    clientReq.on('error', (err) => {
      reject(err instanceof BerthError ? err : new BerthError('BERTH_DISTRIBUTION_CONNECT_FAILED', `${req.method} ${url.href}: ${err.message}`, { status: 502, cause: err }));
    });
    if (bodyBytes) {
      clientReq.end(bodyBytes);
    } else if (bodyStream) {
      void pumpBody(bodyStream, clientReq).catch((err) => clientReq.destroy(err as Error));
    } else {
      clientReq.end();
    }
  });
}

async function pumpBody(source: Readable | AsyncIterable<Uint8Array>, dest: http.ClientRequest): Promise<void> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (!dest.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          dest.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          dest.off('drain', onDrain);
          reject(new Error('connection closed while sending the body'));
        };
        dest.once('drain', onDrain);
        dest.once('close', onClose);
      });
    }
  }
  dest.end();
}

/** Read a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.body.destroy();
      throw new BerthError('BERTH_DISTRIBUTION_BODY_TOO_LARGE', `${res.url.href}: response body larger than ${limit} bytes`, { status: 502 });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Throw away the body so the connection can be reused. */
export async function drain(res: HttpResponse): Promise<void> {
  // Even a complete (e.g. HEAD) response must be read to its 'end', or the
  // agent never gets the socket back and later requests queue behind it.
  res.body.resume();
  if (res.body.complete || res.body.readableEnded) return;
  await new Promise<void>((resolve) => {
    res.body.once('end', resolve);
    res.body.once('close', resolve);
    res.body.once('error', () => resolve());
  });
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
