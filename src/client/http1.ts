/**
 * A small HTTP/1.1 client over a unix socket, built on node:net. Why not
 * node:http: loading node:http costs ~45 ms of CPU at start-up on Node 24
 * (it pulls in undici), and the CLI's start-up budget is close to `node -e 0`.
 * Keep-alive (a connection whose answer is complete is reused by the next
 * request, as the docker CLI's client does), Content-Length, chunked and
 * read-until-close bodies, and `101 Switching Protocols` for hijacking.
 */
import type { Socket } from 'node:net';
import type { PassThrough, Readable } from 'node:stream';

// Loaded on first use, not at start-up (a bundle hoists static imports).
const net = () => process.getBuiltinModule('node:net');
const stream = () => process.getBuiltinModule('node:stream');

export interface HttpHeaders {
  [name: string]: string | number | undefined;
}

export interface Http1Request {
  socketPath: string;
  method: string;
  path: string;
  headers: HttpHeaders;
  /** Buffer/string: sent with Content-Length; Readable: sent chunked. */
  body?: Buffer | string | Readable;
  signal?: AbortSignal;
}

/** The answer: a readable body with the status and lower-cased headers attached. */
export interface Http1Response extends PassThrough {
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  /** The connection; after a 101 it carries the raw hijacked stream. */
  socket: Socket;
}

const MAX_HEAD = 64 * 1024;

/**
 * Idle keep-alive connections per socket path. A CLI command makes a few
 * requests in a row (ping, create, start): reusing a connection saves the
 * connect and, on both sides, the set-up and teardown of a socket (in Node
 * every socket teardown also instantiates process.stderr). Idle sockets are
 * unref'd, so they never keep a process alive, and are reused only while
 * fresh: well inside a server's keep-alive timeout (Node's default is 5 s).
 */
const idle = new Map<string, IdleSocket[]>();
const REUSE_WITHIN_MS = 1000;

interface IdleSocket {
  socket: Socket;
  since: number;
  gone: () => void;
}

function takeIdle(socketPath: string): Socket | undefined {
  const list = idle.get(socketPath);
  while (list?.length) {
    const { socket, since, gone } = list.pop()!;
    socket.off('data', gone).off('end', gone).off('error', gone).off('close', gone);
    if (!socket.destroyed && socket.readyState === 'open' && Date.now() - since < REUSE_WITHIN_MS) {
      socket.ref();
      return socket;
    }
    socket.destroy();
  }
  return undefined;
}

function release(socketPath: string, socket: Socket): void {
  let list = idle.get(socketPath);
  if (!list) idle.set(socketPath, (list = []));
  const entry: IdleSocket = {
    socket,
    since: Date.now(),
    // Closed by the server, failed, or (a protocol error) sent bytes nobody asked for.
    gone: () => {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      socket.destroy();
    },
  };
  socket.on('data', entry.gone).on('end', entry.gone).on('error', entry.gone).on('close', entry.gone);
  socket.resume();
  socket.unref();
  list.push(entry);
}

/**
 * Open `count` connections now and keep them idle for the next requests: a
 * caller that knows it will soon make several requests at once (run: attach,
 * wait, start) connects while the daemon is busy with the current one, and
 * those requests then go out without waiting for a connect.
 */
export function preconnect(socketPath: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const socket = net().connect(socketPath);
    const failed = () => socket.destroy();
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      release(socketPath, socket);
    });
  }
}

export function http1Request(req: Http1Request): Promise<Http1Response> {
  return new Promise<Http1Response>((resolve, reject) => {
    const reused = takeIdle(req.socketPath);
    const socket = reused ?? net().connect(req.socketPath);
    let settled = false;
    /** The request (head and body) is entirely written: the connection may be reused after the answer. */
    let sent = false;
    const onAbort = () => fail(new Error('request aborted'));
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    if (req.signal) {
      if (req.signal.aborted) return fail(new Error('request aborted'));
      req.signal.addEventListener('abort', onAbort, { once: true });
    }
    const send = () => {
      const headers: HttpHeaders = { ...req.headers };
      const isStream = req.body !== undefined && typeof req.body !== 'string' && !Buffer.isBuffer(req.body);
      if (req.body !== undefined && !isStream) headers['Content-Length'] = Buffer.byteLength(req.body as string | Buffer);
      if (isStream) headers['Transfer-Encoding'] = 'chunked';
      let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) if (v !== undefined) head += `${k}: ${v}\r\n`;
      // Head and a string body in one write (one syscall, one segment).
      if (req.body === undefined) socket.write(head + '\r\n');
      else if (typeof req.body === 'string') socket.write(head + '\r\n' + req.body);
      else if (!isStream) {
        socket.write(head + '\r\n');
        socket.write(req.body as Buffer);
      } else {
        socket.write(head + '\r\n');
        const body = req.body as Readable;
        (async () => {
          for await (const chunk of body) {
            const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
            if (!buf.length) continue;
            socket.write(`${buf.length.toString(16)}\r\n`);
            socket.write(buf);
            if (!socket.write('\r\n')) await new Promise((r) => socket.once('drain', r));
          }
          socket.write('0\r\n\r\n');
          sent = true;
        })().catch((err: Error) => fail(err));
        return;
      }
      sent = true;
    };

    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEAD) fail(new Error('response headers too large'));
        return;
      }
      socket.off('data', onData);
      socket.off('end', onEarlyEnd);
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const rest = buffered.subarray(end + 4);
      const m = /^HTTP\/1\.([01]) (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
      if (!m) return fail(new Error(`malformed response from daemon: ${JSON.stringify(lines[0])}`));
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      const res = new (stream().PassThrough)() as Http1Response;
      res.statusCode = Number(m[2]);
      res.statusMessage = m[3] ?? '';
      res.headers = headers;
      res.socket = socket;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      if (res.statusCode === 101) {
        socket.on('error', (err) => res.destroy(err));
        socket.pause();
        if (rest.length) socket.unshift(rest);
        res.end();
        resolve(res);
        return;
      }
      resolve(res);
      const keepAlive = m[1] === '1' && !/\bclose\b/i.test(headers.connection ?? '') && !/\bclose\b/i.test(String(req.headers.Connection ?? ''));
      readBody(socket, res, rest, req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304 ? 0 : headers, (reusable) => {
        if (reusable && keepAlive && sent) release(req.socketPath, socket);
        else socket.destroy();
      });
    };
    const onEarlyEnd = () => fail(new Error('the daemon closed the connection without answering'));
    socket.on('data', onData);
    socket.once('end', onEarlyEnd);
    socket.once('error', fail);
    if (reused) send();
    else socket.once('connect', send);
  });
}

/**
 * Feed the body into `res` by Content-Length, chunked encoding, or until the
 * connection closes; then `done(reusable)`: the answer ended exactly where
 * the body did, and the connection is free for the next request.
 */
function readBody(socket: Socket, res: PassThrough, first: Buffer, framing: Record<string, string> | 0, done: (reusable: boolean) => void): void {
  // Backpressure: a slow reader (save to a slow disk) pauses the socket.
  const write = res.write.bind(res);
  res.write = ((chunk: Buffer) => {
    const ok = write(chunk);
    if (!ok) socket.pause();
    return ok;
  }) as typeof res.write;
  const onDrain = () => socket.resume();
  res.on('drain', onDrain);
  const onError = (err: Error) => res.destroy(err);
  socket.on('error', onError);
  let onSocketData: ((c: Buffer) => void) | undefined;
  let onSocketEnd: (() => void) | undefined;
  const finish = (leftover: Buffer | undefined) => {
    if (onSocketData) socket.off('data', onSocketData);
    if (onSocketEnd) socket.off('end', onSocketEnd);
    socket.off('error', onError);
    res.off('drain', onDrain);
    if (!res.writableEnded && !res.destroyed) res.end();
    done(leftover !== undefined && leftover.length === 0);
  };
  if (framing === 0) return finish(first);
  const te = framing['transfer-encoding'];
  const cl = framing['content-length'];
  if (te && /chunked/i.test(te)) {
    const decoder = new ChunkedDecoder(res, finish);
    onSocketData = (c: Buffer) => decoder.push(c);
    onSocketEnd = () => {
      if (!res.writableEnded) res.destroy(new Error('connection closed in the middle of a chunked response'));
      finish(undefined);
    };
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    decoder.push(first);
    return;
  }
  if (cl !== undefined) {
    let remaining = Number(cl);
    if (remaining === 0) return finish(first);
    const take = (buf: Buffer) => {
      const part = buf.subarray(0, remaining);
      remaining -= part.length;
      if (part.length) res.write(part);
      if (remaining <= 0) finish(buf.subarray(part.length));
    };
    onSocketData = take;
    onSocketEnd = () => {
      if (!res.writableEnded) res.destroy(new Error('connection closed before the whole response body arrived'));
      finish(undefined);
    };
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    take(first);
    return;
  }
  // Read until the connection closes: never reused.
  if (first.length) res.write(first);
  socket.pipe(res);
}

class ChunkedDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes left in the current chunk; -1: expecting a size line; -2: in the trailer after the last chunk. */
  private remaining = -1;
  private finished = false;
  private readonly out: PassThrough;
  private readonly onDone: (leftover: Buffer | undefined) => void;

  constructor(out: PassThrough, onDone: (leftover: Buffer | undefined) => void) {
    this.out = out;
    this.onDone = onDone;
  }

  push(chunk: Buffer): void {
    if (this.finished) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.remaining === -2) {
        // After the last chunk: optional trailer lines, then an empty line.
        if (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) return this.finish(this.buf.subarray(2));
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        return this.finish(this.buf.subarray(end + 4));
      }
      if (this.remaining < 0) {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1').split(';')[0]!.trim(), 16);
        if (Number.isNaN(size)) {
          this.finished = true;
          this.out.destroy(new Error('malformed chunked response from daemon'));
          this.onDone(undefined);
          return;
        }
        this.buf = this.buf.subarray(nl + 2);
        if (size === 0) {
          // The body is complete: the reader has it now, whenever the trailer arrives.
          this.out.end();
          this.remaining = -2;
          continue;
        }
        this.remaining = size;
      }
      if (this.remaining > 0) {
        if (!this.buf.length) return;
        const part = this.buf.subarray(0, this.remaining);
        this.out.write(part);
        this.remaining -= part.length;
        this.buf = this.buf.subarray(part.length);
      }
      if (this.remaining === 0) {
        if (this.buf.length < 2) return;
        this.buf = this.buf.subarray(2); // CRLF after the chunk
        this.remaining = -1;
      }
    }
  }

  private finish(leftover: Buffer): void {
    this.finished = true;
    this.onDone(leftover);
  }
}
