/**
 * A deliberately small registry on 127.0.0.1 for the cases a well-behaved
 * registry never produces: wrong bytes, cut-off transfers, odd media types,
 * redirects to another host, slow blobs (to watch parallelism). It serves
 * manifests and blobs from maps and lets a test replace the answer for any
 * request; every request is recorded with its headers.
 */
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** Return true if the request was answered. */
export type Override = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface FakeRegistry {
  host: string;
  port: number;
  requests: RecordedRequest[];
  manifests: Map<string, { contentType: string; bytes: Buffer; digestHeader?: string }>;
  blobs: Map<string, Buffer>;
  overrides: Override[];
  /** Blob GETs being answered right now, and the most at once. */
  inflight: { now: number; max: number };
  close(): Promise<void>;
}

/** With `tls`, the registry speaks HTTPS (a self-signed certificate, as on a lab registry). */
export async function startFakeRegistry(options: { tls?: { key: string; cert: string } } = {}): Promise<FakeRegistry> {
  const fake = {
    requests: [] as RecordedRequest[],
    manifests: new Map(),
    blobs: new Map(),
    overrides: [] as Override[],
    inflight: { now: 0, max: 0 },
  } as Omit<FakeRegistry, 'host' | 'port' | 'close'>;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void handle(fake, req, res).catch((err) => {
      res.destroy(err as Error);
    });
  };
  const server: Server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(fake, {
    host: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

async function handle(fake: Omit<FakeRegistry, 'host' | 'port' | 'close'>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  fake.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
  for (const o of fake.overrides) if (await o(req, res)) return;
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/v2/') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  let m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(url.pathname);
  if (m) {
    // Uploads, monolithic or chunked, kept in memory; the digest is checked on PUT.
    const id = m[2] || randomUUID();
    const uploads = (fake as unknown as { uploads?: Map<string, Buffer[]> }).uploads ?? new Map<string, Buffer[]>();
    (fake as unknown as { uploads: Map<string, Buffer[]> }).uploads = uploads;
    const body = await readAll(req);
    if (req.method === 'POST') {
      uploads.set(id, []);
      res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, 'content-length': '0' }).end();
      return;
    }
    const parts = uploads.get(id);
    if (!parts) return notFound(res, 'BLOB_UPLOAD_UNKNOWN');
    parts.push(body);
    if (req.method === 'PATCH') {
      res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, 'content-length': '0' }).end();
      return;
    }
    const all = Buffer.concat(parts);
    const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
    if (digest !== url.searchParams.get('digest')) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DIGEST_INVALID","message":"digest did not match"}]}');
      return;
    }
    uploads.delete(id);
    fake.blobs.set(digest, all);
    res.writeHead(201, { location: `/v2/${m[1]}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': '0' }).end();
    return;
  }
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
  if (m && req.method === 'PUT') {
    const bytes = await readAll(req);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const entry = { contentType: req.headers['content-type'] ?? '', bytes, digestHeader: digest };
    fake.manifests.set(decodeURIComponent(m[2]!), entry);
    fake.manifests.set(digest, entry);
    res.writeHead(201, { 'docker-content-digest': digest, 'content-length': '0' }).end();
    return;
  }
  if (m) {
    const entry = fake.manifests.get(decodeURIComponent(m[2]!));
    if (!entry) return notFound(res, 'MANIFEST_UNKNOWN');
    const headers: Record<string, string> = { 'content-type': entry.contentType, 'content-length': String(entry.bytes.length) };
    if (entry.digestHeader) headers['docker-content-digest'] = entry.digestHeader;
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : entry.bytes);
    return;
  }
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
  if (m) {
    const bytes = fake.blobs.get(decodeURIComponent(m[2]!));
    if (!bytes) return notFound(res, 'BLOB_UNKNOWN');
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(bytes.length) }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }).end(bytes);
    return;
  }
  notFound(res, 'NAME_UNKNOWN');
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] }));
}

/** `GET /v2/<repo>/blobs/<digest>` for this digest? */
export function isBlobGet(req: IncomingMessage, digest: string): boolean {
  return req.method === 'GET' && !!req.url && new URL(req.url, 'http://x').pathname.endsWith(`/blobs/${digest}`);
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
