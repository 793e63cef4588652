/**
 * What a handler sees: the request, its path parameters and query, the API
 * version it is served at, and helpers to answer the way dockerd does.
 * Upgrade requests (attach/exec with `Upgrade: tcp`) arrive with a raw socket
 * instead of a ServerResponse; `hijack()` answers 101 and hands it over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import { DEFAULT_JSON_LIMIT, parseJsonBody, readLimited } from './body.ts';
import { JsonMessageStream } from './json-progress.ts';
import type { FiltersArg } from './types.ts';

export interface CommonHeaders {
  [name: string]: string;
}

export class RequestContext {
  readonly req: IncomingMessage;
  /** Undefined for upgrade requests until the handler answers without hijacking. */
  readonly res: ServerResponse | undefined;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly apiVersion: string;
  readonly path: string;
  private readonly upgradeSocket: Duplex | undefined;
  private upgradeHead: Buffer | undefined;
  private readonly commonHeaders: CommonHeaders;
  private bodyStream: Readable | undefined;

  constructor(init: {
    req: IncomingMessage;
    res?: ServerResponse;
    socket?: Duplex;
    head?: Buffer;
    params: Record<string, string>;
    query: URLSearchParams;
    apiVersion: string;
    path: string;
    commonHeaders: CommonHeaders;
  }) {
    this.req = init.req;
    this.res = init.res;
    this.upgradeSocket = init.socket;
    this.upgradeHead = init.head;
    this.params = init.params;
    this.query = init.query;
    this.apiVersion = init.apiVersion;
    this.path = init.path;
    this.commonHeaders = init.commonHeaders;
  }

  get isUpgrade(): boolean {
    return this.upgradeSocket !== undefined;
  }

  /** The request body as a stream (for upgrade requests: the Content-Length bytes after the headers). */
  body(): Readable {
    if (this.bodyStream) return this.bodyStream;
    if (!this.upgradeSocket) {
      this.bodyStream = this.req;
      return this.req;
    }
    // On an upgraded connection Node hands us the socket; the body is its first
    // Content-Length bytes (part may already be in `head`). Anything after belongs
    // to the hijacked stream and is put back.
    const socket = this.upgradeSocket;
    const length = Number(this.req.headers['content-length'] ?? 0);
    const out = new PassThrough();
    let head = this.upgradeHead ?? Buffer.alloc(0);
    let remaining = length;
    const take = (buf: Buffer): Buffer => {
      const n = Math.min(remaining, buf.length);
      if (n > 0) out.write(buf.subarray(0, n));
      remaining -= n;
      return buf.subarray(n);
    };
    head = take(head);
    this.upgradeHead = head;
    if (remaining === 0) {
      out.end();
    } else {
      const onData = (chunk: Buffer) => {
        const rest = take(chunk);
        if (remaining === 0) {
          socket.off('data', onData);
          socket.pause();
          if (rest.length) socket.unshift(rest);
          out.end();
        }
      };
      socket.on('data', onData);
      socket.resume();
    }
    this.bodyStream = out;
    return out;
  }

  /** The JSON body (undefined when empty), limited in size; 400 on anything malformed. */
  async json<T = unknown>(limit = DEFAULT_JSON_LIMIT): Promise<T | undefined> {
    const declared = this.req.headers['content-length'];
    const bytes = await readLimited(this.body(), limit, declared === undefined ? undefined : Number(declared));
    return parseJsonBody(bytes, this.req.headers['content-type']) as T | undefined;
  }

  /** A required JSON object body. */
  async jsonObject<T extends object>(limit = DEFAULT_JSON_LIMIT): Promise<T> {
    const value = await this.json<T>(limit);
    if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BerthError('BERTH_API_BAD_JSON', 'request body must be a JSON object', { status: 400 });
    }
    return value;
  }

  /** A boolean query flag the way Docker reads them ("1", "true", "True"; "0"/"false"/"" are false). */
  flag(name: string): boolean {
    const v = this.query.get(name);
    if (v === null) return false;
    return !['', '0', 'false', 'False', 'FALSE', 'no'].includes(v);
  }

  /** The `filters` query parameter, normalised to name → values. 400 when malformed. */
  filters(): Map<string, string[]> {
    return parseFilters(this.query.get('filters'));
  }

  private response(): ServerResponse {
    if (!this.res) throw new Error('this request was upgraded: answer through hijack()');
    return this.res;
  }

  sendJson(status: number, value: unknown): void {
    const res = this.response();
    const body = JSON.stringify(value) + '\n';
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  sendStatus(status: number): void {
    const res = this.response();
    res.writeHead(status, { 'Content-Length': 0 });
    res.end();
  }

  /** A chunked JSON message stream (pull, push, load, import). */
  messageStream(): JsonMessageStream {
    return new JsonMessageStream(this.response());
  }

  /**
   * Take over the connection for a raw bidirectional stream (attach, exec).
   * With `Upgrade: tcp` answers `101 UPGRADED` as dockerd does; without it,
   * answers 200 and streams on the same connection.
   */
  hijack(contentType = 'application/vnd.docker.raw-stream'): Duplex {
    if (this.upgradeSocket) {
      const socket = this.upgradeSocket;
      if (this.res) {
        if (this.res.headersSent) throw new Error('cannot hijack: the response has already started');
        this.res.detachSocket(socket as import('node:net').Socket);
      }
      const lines = [
        'HTTP/1.1 101 UPGRADED',
        `Content-Type: ${contentType}`,
        'Connection: Upgrade',
        'Upgrade: tcp',
        ...Object.entries(this.commonHeaders).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ];
      socket.write(lines.join('\r\n'));
      const head = this.upgradeHead;
      if (head && head.length) socket.unshift(head);
      return socket;
    }
    const res = this.response();
    const socket = res.socket;
    if (!socket) throw new Error('connection already closed');
    res.writeHead(200, { 'Content-Type': contentType });
    res.flushHeaders();
    // The HTTP layer may still parse bytes; stop it and use the socket directly.
    res.detachSocket(socket);
    return socket;
  }
}

/** Docker's filters: `{"k":["v"]}` or the older `{"k":{"v":true}}`. */
export function parseFilters(raw: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (raw === null || raw === '') return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new BerthError('BERTH_API_BAD_FILTERS', `invalid filter: the filters parameter is not JSON (${(err as Error).message})`, {
      status: 400,
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BerthError('BERTH_API_BAD_FILTERS', 'invalid filter: filters must be a JSON object', { status: 400 });
  }
  for (const [key, value] of Object.entries(parsed as FiltersArg)) {
    if (Array.isArray(value)) out.set(key, value.map(String));
    else if (value && typeof value === 'object') out.set(key, Object.keys(value).filter((k) => (value as Record<string, boolean>)[k]));
    else throw new BerthError('BERTH_API_BAD_FILTERS', `invalid filter: values of "${key}" must be a list`, { status: 400 });
  }
  return out;
}
