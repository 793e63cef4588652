/**
 * berthd's Engine API server: node:http on a unix socket, Docker's versioned
 * paths, version checks, common headers, the routing table, and errors as
 * `{"message": …}`. Endpoint groups (system, images, later containers) add
 * their routes to the table; this file knows none of them.
 */
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { API_VERSION } from '../common/config.ts';
import { BerthError, errorMessage } from '../common/errors.ts';
import { RequestContext } from './context.ts';
import { toApiError } from './errors.ts';
import { Router } from './router.ts';
import { effectiveVersion, splitVersion } from './version.ts';
import { BERTH_VERSION } from './build-info.ts';

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface ApiServerOptions {
  router: Router;
  log?: LogFn;
}

export function commonHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `Berth/${BERTH_VERSION} (linux)`,
  };
}

export class ApiServer {
  readonly server: Server;
  private readonly router: Router;
  private readonly log: LogFn;
  private socketPath: string | undefined;
  private readonly sockets = new Set<Duplex>();

  constructor(options: ApiServerOptions) {
    this.router = options.router;
    this.log = options.log ?? (() => {});
    // requestTimeout 0: `docker load`/`import` of a multi-GB tarball may take longer than
    // Node's default 5 minutes to upload, and dockerd sets no such limit either.
    this.server = createServer({ keepAlive: true, requestTimeout: 0 }, (req, res) => {
      void this.dispatch(req, res, undefined, undefined);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Give upgrade requests an ordinary response too, so a route that does not
      // hijack (or fails before it does) answers the usual way; hijack() detaches it.
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      res.once('finish', () => socket.end());
      void this.dispatch(req, res, socket, head);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (err, socket) => {
      // Malformed HTTP: answer 400 if the socket can still take it, never crash.
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      this.log('debug', `bad HTTP from client: ${errorMessage(err)}`);
    });
  }

  /** Listen on a unix socket: parent dir created, stale socket replaced, mode 0660. */
  async listen(socketPath: string): Promise<void> {
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
    if (await socketAnswers(socketPath)) {
      throw new BerthError('BERTH_DAEMON_SOCKET_IN_USE', `another daemon is already listening on ${socketPath}`, {
        status: 409,
      });
    }
    await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(socketPath, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.socketPath = socketPath;
    await chmod(socketPath, 0o660);
  }

  /** Stop accepting, end idle and streaming connections, remove the socket. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // Long streams (pull progress, hijacked attach) would hold close() forever.
    const grace = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 2000);
    grace.unref();
    await closed;
    clearTimeout(grace);
    if (this.socketPath) {
      await unlink(this.socketPath).catch(() => {});
      this.socketPath = undefined;
    }
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse | undefined,
    socket: Duplex | undefined,
    head: Buffer | undefined,
  ): Promise<void> {
    const headers = commonHeaders();
    if (res) {
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      sortHeadersOnWrite(res);
    }
    const method = (req.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://berthd');
    } catch {
      return this.fail(res, socket, new BerthError('BERTH_API_BAD_URL', `malformed request URL: ${req.url}`, { status: 400 }));
    }
    const started = Date.now();
    try {
      const { version, path } = splitVersion(url.pathname);
      const apiVersion = effectiveVersion(version);
      const match = this.router.match(method, path);
      if (match === undefined) {
        throw new BerthError('BERTH_API_NOT_FOUND', `page not found: ${method} ${url.pathname} is not an endpoint of berthd`, {
          status: 404,
        });
      }
      if ('methodNotAllowed' in match) {
        throw new BerthError('BERTH_API_METHOD', `method not allowed: ${method} ${url.pathname}`, { status: 405 });
      }
      const ctx = new RequestContext({
        req,
        res,
        socket,
        head,
        params: match.params,
        query: url.searchParams,
        apiVersion,
        path,
        commonHeaders: headers,
      });
      await match.handler(ctx);
      this.log('debug', `${method} ${req.url} ${res?.statusCode ?? 101} ${Date.now() - started}ms`);
    } catch (err) {
      this.fail(res, socket, err);
      const answer = toApiError(err);
      this.log(answer.status >= 500 ? 'error' : 'debug', `${method} ${req.url} ${answer.status}: ${answer.message}`);
    }
  }

  private fail(res: ServerResponse | undefined, socket: Duplex | undefined, err: unknown): void {
    const { status, message } = toApiError(err);
    const body = JSON.stringify({ message }) + '\n';
    if (res) {
      if (res.headersSent) {
        // Mid-stream: Docker's convention is an error line in the stream.
        if (!res.writableEnded && !res.destroyed) {
          const ct = String(res.getHeader('Content-Type') ?? '');
          if (ct.includes('json')) res.write(JSON.stringify({ errorDetail: { message }, error: message }) + '\r\n');
          res.end();
        }
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      // Never read an unbounded body we refused; the connection is not reusable after.
      if (!res.req.complete) res.req.resume();
      return;
    }
    if (socket && socket.writable) {
      const statusText = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error' }[status] ?? 'Error';
      socket.end(
        `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }
}

/**
 * dockerd (Go's net/http) sends headers sorted by name; do the same so our
 * answers read like the traces byte for byte (Date and framing come last, as there).
 */
function sortHeadersOnWrite(res: ServerResponse): void {
  const original = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => ServerResponse;
  res.writeHead = ((status: number, headers?: OutgoingHttpHeaders) => {
    const merged: OutgoingHttpHeaders = {};
    for (const name of res.getHeaderNames()) {
      merged[canonicalHeader(name)] = res.getHeader(name);
      res.removeHeader(name);
    }
    for (const [k, v] of Object.entries(headers ?? {})) {
      for (const existing of Object.keys(merged)) if (existing.toLowerCase() === k.toLowerCase()) delete merged[existing];
      merged[k] = v;
    }
    const sorted: OutgoingHttpHeaders = {};
    for (const k of Object.keys(merged).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))) sorted[k] = merged[k];
    return original(status, sorted);
  }) as typeof res.writeHead;
}

/** Go's CanonicalMIMEHeaderKey: "api-version" → "Api-Version". */
function canonicalHeader(name: string): string {
  return name
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase())
    .join('-');
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
