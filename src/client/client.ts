/**
 * The Engine API client the berth CLI uses: HTTP over a unix socket, API
 * version negotiated once per client (HEAD /_ping, then the lower of ours and
 * the server's), JSON and streaming answers, Docker's error bodies as errors.
 */
import type { Duplex, Readable } from 'node:stream';
import { http1Request, preconnect, type Http1Response, type HttpHeaders } from './http1.ts';
import { API_VERSION } from '../common/config.ts';
import { BerthError } from '../common/errors.ts';
import { negotiateVersion } from '../api/version.ts';
import type { JSONMessage } from '../api/types.ts';

export type QueryValue = string | number | boolean | undefined | null | string[];

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** JSON-encoded when an object; sent as-is when a Buffer, string or stream. */
  body?: unknown;
  headers?: HttpHeaders;
  /** Skip the /vX.Y prefix (for /_ping). */
  unversioned?: boolean;
  signal?: AbortSignal;
}

/** A daemon answer with a non-2xx status: message from Docker's `{"message": …}` body. */
export class ApiError extends BerthError {
  constructor(status: number, message: string) {
    super('BERTH_CLIENT_API_ERROR', message, { status });
    this.name = 'ApiError';
  }
}

/** Nothing listens on the socket (or it is missing). */
export class DaemonUnreachableError extends BerthError {
  readonly socketPath: string;
  constructor(socketPath: string, cause: unknown) {
    super(
      'BERTH_CLIENT_NO_DAEMON',
      `Cannot connect to the berth daemon at unix://${socketPath}. Is berthd running?`,
      { status: 503, cause },
    );
    this.name = 'DaemonUnreachableError';
    this.socketPath = socketPath;
  }
}

export interface PingResult {
  apiVersion: string | undefined;
  osType: string | undefined;
  experimental: boolean;
  builderVersion: string | undefined;
}

export class EngineClient {
  readonly socketPath: string;
  private version: string | undefined;
  private readonly maxVersion: string;

  constructor(socketPath: string, options: { apiVersion?: string } = {}) {
    this.socketPath = socketPath;
    this.maxVersion = options.apiVersion ?? API_VERSION;
    // An explicit version (DOCKER_API_VERSION) skips negotiation, as docker's does.
    if (options.apiVersion) this.version = options.apiVersion;
  }

  async ping(): Promise<PingResult> {
    const res = await this.raw('HEAD', '/_ping', { unversioned: true });
    res.resume();
    const h = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    if ((res.statusCode ?? 500) >= 400) throw new ApiError(res.statusCode ?? 500, `ping failed with status ${res.statusCode}`);
    return {
      apiVersion: h('api-version'),
      osType: h('ostype'),
      experimental: h('docker-experimental') === 'true',
      builderVersion: h('builder-version'),
    };
  }

  /** The API version to use, negotiated on first need. */
  async apiVersion(): Promise<string> {
    if (this.version === undefined) {
      const ping = await this.ping();
      this.version = negotiateVersion(this.maxVersion, ping.apiVersion);
    }
    return this.version;
  }

  /** Low-level request; resolves with the response once headers arrive (any status). */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Http1Response> {
    const prefix = options.unversioned ? '' : `/v${await this.apiVersion()}`;
    return this.send(method, prefix + path + encodeQuery(options.query), options, {});
  }

  private async send(method: string, path: string, options: RequestOptions, extra: HttpHeaders): Promise<Http1Response> {
    const { headers, body } = encodeBody(options.body);
    try {
      return await http1Request({
        socketPath: this.socketPath,
        method,
        path,
        headers: { Host: 'berthd', 'User-Agent': 'berth-cli', ...headers, ...extra, ...options.headers },
        body,
        signal: options.signal,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') throw new DaemonUnreachableError(this.socketPath, err);
      throw err;
    }
  }

  /** A request whose answer must be 2xx; the response stream is returned unread. */
  async stream(method: string, path: string, options: RequestOptions = {}): Promise<Http1Response> {
    const res = await this.raw(method, path, options);
    await throwIfError(res);
    return res;
  }

  /** A request whose JSON answer is returned (undefined for empty bodies). */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.stream(method, path, options);
    const text = (await readAll(res)).toString('utf8');
    return (text.trim() === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Docker's JSON message stream, one object per line; an `error` line throws. */
  async *messages(method: string, path: string, options: RequestOptions = {}): AsyncGenerator<JSONMessage> {
    const res = await this.stream(method, path, options);
    yield* jsonLines(res);
  }

  /** Open `count` idle connections for requests about to be made (they go out without a connect). */
  preconnect(count: number): void {
    preconnect(this.socketPath, count);
  }

  /** Take over the connection with `Upgrade: tcp` (attach, exec) and return the raw socket. */
  async hijack(method: string, path: string, options: RequestOptions = {}): Promise<Duplex> {
    const prefix = `/v${await this.apiVersion()}`;
    const res = await this.send(method, prefix + path + encodeQuery(options.query), options, { Connection: 'Upgrade', Upgrade: 'tcp' });
    if (res.statusCode === 101) {
      res.socket.resume();
      return res.socket;
    }
    await throwIfError(res);
    return res.socket;
  }
}

export function encodeQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) params.append(k, item);
    else if (typeof v === 'boolean') params.set(k, v ? '1' : '0');
    else params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

function encodeBody(body: unknown): { headers: HttpHeaders; body: Buffer | string | Readable | undefined } {
  if (body === undefined) return { headers: {}, body: undefined };
  if (Buffer.isBuffer(body) || typeof body === 'string') return { headers: {}, body };
  if (isReadable(body)) return { headers: { 'Content-Type': 'application/x-tar' }, body };
  return { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

function isReadable(x: unknown): x is Readable {
  return !!x && typeof (x as Readable).pipe === 'function' && typeof (x as Readable).on === 'function';
}

/** A whole body. Stream events rather than `for await`: the async iterator machinery is a measurable part of a CLI run. */
export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string | Uint8Array) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array)));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
    // Destroyed without an error before its end (after 'end' this is a no-op).
    stream.once('close', () => reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  });
}

async function throwIfError(res: Http1Response): Promise<void> {
  const status = res.statusCode ?? 500;
  if (status < 400) return;
  const text = (await readAll(res)).toString('utf8');
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: string };
    if (parsed && typeof parsed.message === 'string') message = parsed.message;
  } catch {
    /* not JSON: use the text */
  }
  throw new ApiError(status, message || `the daemon answered ${status} ${res.statusMessage ?? ''}`.trim());
}

/** Split a stream into JSON lines; a message with `error` ends the stream with an ApiError. */
export async function* jsonLines(stream: Readable): AsyncGenerator<JSONMessage> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as JSONMessage;
      if (msg.error || msg.errorDetail) throw new ApiError(500, msg.errorDetail?.message ?? msg.error ?? 'unknown error');
      yield msg;
    }
  }
  const rest = buffered.trim();
  if (rest) {
    const msg = JSON.parse(rest) as JSONMessage;
    if (msg.error || msg.errorDetail) throw new ApiError(500, msg.errorDetail?.message ?? msg.error ?? 'unknown error');
    yield msg;
  }
}
