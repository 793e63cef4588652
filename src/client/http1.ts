/**
 * A small HTTP/1.1 client over a unix socket, built on node:net. Why not
 * node:http: loading node:http costs ~45 ms of CPU at start-up on Node 24
 * (it pulls in undici), and the CLI's start-up budget is close to `node -e 0`.
 * One request per connection (Connection: close), Content-Length, chunked
 * and read-until-close bodies, and `101 Switching Protocols` for hijacking.
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

export function http1Request(req: Http1Request): Promise<Http1Response> {
  return new Promise<Http1Response>((resolve, reject) => {
    const socket = net().connect(req.socketPath);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    if (req.signal) {
      if (req.signal.aborted) return fail(new Error('request aborted'));
      req.signal.addEventListener('abort', () => fail(new Error('request aborted')), { once: true });
    }
    socket.once('error', fail);
    socket.once('connect', () => {
      const headers: HttpHeaders = { ...req.headers };
      const isStream = req.body !== undefined && typeof req.body !== 'string' && !Buffer.isBuffer(req.body);
      if (req.body !== undefined && !isStream) headers['Content-Length'] = Buffer.byteLength(req.body as string | Buffer);
      if (isStream) headers['Transfer-Encoding'] = 'chunked';
      if (headers.Connection === undefined) headers.Connection = 'close';
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
        })().catch((err: Error) => fail(err));
      }
    });

    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEAD) fail(new Error('response headers too large'));
        return;
      }
      socket.off('data', onData);
      socket.off('end', onEarlyEnd);
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const rest = buffered.subarray(end + 4);
      const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
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
      res.statusCode = Number(m[1]);
      res.statusMessage = m[2] ?? '';
      res.headers = headers;
      res.socket = socket;
      settled = true;
      socket.off('error', fail);
      socket.on('error', (err) => res.destroy(err));
      if (res.statusCode === 101) {
        socket.pause();
        if (rest.length) socket.unshift(rest);
        res.end();
        resolve(res);
        return;
      }
      resolve(res);
      pipeBody(socket, res, rest, req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304 ? 0 : headers);
    };
    const onEarlyEnd = () => fail(new Error('the daemon closed the connection without answering'));
    socket.on('data', onData);
    socket.once('end', onEarlyEnd);
  });
}

/** Feed the body into `res` by Content-Length, chunked encoding, or until the connection closes. */
function pipeBody(socket: Socket, res: PassThrough, first: Buffer, framing: Record<string, string> | 0): void {
  const done = () => {
    if (!res.writableEnded) res.end();
    socket.destroy();
  };
  // Backpressure: a slow reader (save to a slow disk) pauses the socket.
  const write = res.write.bind(res);
  res.write = ((chunk: Buffer) => {
    const ok = write(chunk);
    if (!ok) socket.pause();
    return ok;
  }) as typeof res.write;
  res.on('drain', () => socket.resume());
  if (framing === 0) return done();
  const te = framing['transfer-encoding'];
  const cl = framing['content-length'];
  if (te && /chunked/i.test(te)) {
    const decoder = new ChunkedDecoder(res, done);
    decoder.push(first);
    socket.on('data', (c: Buffer) => decoder.push(c));
    socket.on('end', () => {
      if (!res.writableEnded) res.destroy(new Error('connection closed in the middle of a chunked response'));
    });
    return;
  }
  if (cl !== undefined) {
    let remaining = Number(cl);
    const take = (buf: Buffer) => {
      const part = buf.subarray(0, remaining);
      remaining -= part.length;
      if (part.length) res.write(part);
      if (remaining <= 0) done();
    };
    if (remaining === 0) return done();
    take(first);
    if (remaining > 0) {
      socket.on('data', take);
      socket.on('end', () => {
        if (!res.writableEnded) res.destroy(new Error('connection closed before the whole response body arrived'));
      });
    }
    return;
  }
  if (first.length) res.write(first);
  socket.pipe(res);
}

class ChunkedDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private remaining = -1; // bytes left in the current chunk; -1 = expecting a size line
  private finished = false;
  private readonly out: PassThrough;
  private readonly onDone: () => void;

  constructor(out: PassThrough, onDone: () => void) {
    this.out = out;
    this.onDone = onDone;
  }

  push(chunk: Buffer): void {
    if (this.finished) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.remaining < 0) {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1').split(';')[0]!.trim(), 16);
        if (Number.isNaN(size)) {
          this.finished = true;
          this.out.destroy(new Error('malformed chunked response from daemon'));
          return;
        }
        this.buf = this.buf.subarray(nl + 2);
        if (size === 0) {
          this.finished = true;
          this.onDone();
          return;
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
}
