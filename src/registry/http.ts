/**
 * HTTP adapter: the distribution spec's URL routes and headers over the
 * Registry library. Handlers parse and validate the request, call one
 * Registry method and write the answer; every failure becomes the spec's
 * `{"errors":[{code,message,detail}]}` body with its status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../content/types.ts';
import { isBerthError } from '../common/errors.ts';
import { MediaTypes } from '../oci/image-spec.ts';
import { RegistryError, registryError } from './errors.ts';
import { parseDigest } from './names.ts';
import { MAX_MANIFEST_BYTES, type Page, type Registry } from './registry.ts';
import type { RegistryErrorBody } from './types.ts';
import type { ChunkRange } from './uploads.ts';

type Handler = (ctx: RequestContext) => Promise<void>;

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: { searchParams: URLSearchParams };
  /** Repository name from the path (raw; the Registry validates it). */
  name: string;
  /** Reference / digest / upload id segment, if the route has one. */
  segment: string;
  registry: Registry;
}

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}

const API_VERSION_HEADER = 'registry/2.0';

/** Order matters: uploads before blobs, since a name may itself contain "blobs". */
const routes: Route[] = [
  { pattern: /^\/v2\/?$/, methods: { GET: apiBase, HEAD: apiBase } },
  { pattern: /^\/v2\/_catalog$/, methods: { GET: getCatalog } },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: postUpload } },
  {
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: getUploadStatus, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
  { pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: getTags } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: getReferrers } },
];

export interface HandlerOptions {
  /** Where server-side failures (5xx) are reported; client mistakes are only answered. */
  log?: (line: string) => void;
}

export function createRequestHandler(registry: Registry, options: HandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(registry, req, res, options);
  };
}

async function handle(registry: Registry, req: IncomingMessage, res: ServerResponse, options: HandlerOptions): Promise<void> {
  res.setHeader('Docker-Distribution-API-Version', API_VERSION_HEADER);
  try {
    // The raw path, not URL's normalised one: a name with ".." must reach the
    // name check and be refused as such, not silently resolved to another route.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const url = { searchParams: parseQuery(q < 0 ? '' : raw.slice(q + 1)) };
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      const handler = route.methods[req.method ?? 'GET'];
      if (!handler) {
        res.setHeader('Allow', Object.keys(route.methods).join(', '));
        throw registryError('UNSUPPORTED', `method ${req.method} is not supported on ${path}`, { method: req.method });
      }
      const name = decodeSegment(m[1] ?? '');
      const segment = decodeSegment(m[2] ?? '');
      await handler({ req, res, url, name, segment, registry });
      return;
    }
    throw registryError('UNSUPPORTED', `no such endpoint: ${req.method} ${path.slice(0, 200)}`, undefined, 404);
  } catch (err) {
    const status = sendError(req, res, err);
    if (status >= 500 && options.log) {
      options.log(`${req.method} ${(req.url ?? '').slice(0, 300)}: ${status} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
}

/**
 * Query parameters, percent-decoded but with "+" kept as "+": media types in
 * ?artifactType= (application/vnd.x+json) often arrive unencoded, and none of
 * this API's values (digests, names, tags, numbers) can contain a space.
 */
function parseQuery(query: string): URLSearchParams {
  const params = new URLSearchParams();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    try {
      params.append(decodeURIComponent(key), decodeURIComponent(value));
    } catch {
      throw registryError('UNSUPPORTED', `query parameter "${key.slice(0, 40)}" is not valid percent-encoding`, undefined, 400);
    }
  }
  return params;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw registryError('NAME_INVALID', `path segment "${s.slice(0, 100)}" is not valid percent-encoding`);
  }
}

// ---- responses ------------------------------------------------------------

/** Answer with the spec's error body; returns the status sent. */
function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): number {
  let code: RegistryErrorBody['errors'][0]['code'] = 'UNKNOWN';
  let status = 500;
  let message = err instanceof Error ? err.message : String(err);
  let detail: unknown;
  if (err instanceof RegistryError) {
    code = err.registryCode;
    status = err.status;
    detail = err.detail;
  } else if (isBerthError(err) && err.status < 500) {
    // A content-store or other berth refusal that reached us unmapped: keep its status.
    code = err.status === 404 ? 'BLOB_UNKNOWN' : 'UNSUPPORTED';
    status = err.status;
    detail = err.detail ?? { code: err.code };
  } else {
    message = `internal error: ${message}`;
  }
  if (res.headersSent) {
    // Mid-stream failure: the only honest signal left is to cut the connection.
    res.destroy(err instanceof Error ? err : undefined);
    return status;
  }
  const body: RegistryErrorBody = { errors: [detail === undefined ? { code, message } : { code, message, detail }] };
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  // A request body we did not read would otherwise be parsed as the next request.
  if (!req.complete) res.setHeader('Connection', 'close');
  res.end(req.method === 'HEAD' ? undefined : text);
  return status;
}

function sendJson(res: ServerResponse, status: number, value: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Length', 0);
  res.end();
}

function uploadLocation(name: string, uuid: string): string {
  return `/v2/${name}/blobs/uploads/${uuid}`;
}

/** distribution's convention: "0-<last byte>", and "0-0" for an empty upload. */
function rangeHeader(offset: number): string {
  return `0-${offset > 0 ? offset - 1 : 0}`;
}

function uploadHeaders(name: string, uuid: string, offset: number): Record<string, string | number> {
  return { Location: uploadLocation(name, uuid), Range: rangeHeader(offset), 'Docker-Upload-UUID': uuid };
}

// ---- request helpers ------------------------------------------------------

function contentLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw registryError('SIZE_INVALID', `Content-Length "${raw.slice(0, 40)}" is not a number`);
  return Number(raw);
}

/** Whether the request carries a body (a length > 0, or chunked encoding). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Upload chunk range: "<start>-<end>" (the spec's form) or "bytes <start>-<end>/<size|*>" (RFC 9110). */
function chunkRange(req: IncomingMessage): ChunkRange | undefined {
  const raw = req.headers['content-range'];
  if (raw === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(raw.trim());
  if (!m) throw registryError('BLOB_UPLOAD_INVALID', `Content-Range "${raw.slice(0, 60)}" is not of the form <start>-<end>`, undefined, 416);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw registryError('BLOB_UPLOAD_INVALID', `Content-Range "${raw}" ends before it starts`, undefined, 416);
  return { start, end };
}

async function readBodyBounded(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    throw registryError('SIZE_INVALID', `${what} is ${declared} bytes; this registry accepts at most ${limit}`, { limit }, 413);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw registryError('SIZE_INVALID', `${what} exceeds ${limit} bytes`, { limit }, 413);
    chunks.push(chunk);
  }
  if (declared !== undefined && size !== declared) {
    throw registryError('SIZE_INVALID', `${what}: Content-Length says ${declared} bytes but ${size} arrived`);
  }
  return Buffer.concat(chunks, size);
}

function optionalInt(url: RequestContext['url'], key: string): number | undefined {
  const raw = url.searchParams.get(key);
  if (raw === null) return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw registryError('UNSUPPORTED', `query parameter ${key}="${raw.slice(0, 40)}" must be a non-negative integer`, { [key]: raw }, 400);
  return Number(raw);
}

function linkHeader(res: ServerResponse, path: string, page: Page<string>): void {
  if (page.next === undefined) return;
  const q = new URLSearchParams();
  if (page.n !== undefined) q.set('n', String(page.n));
  q.set('last', page.next);
  res.setHeader('Link', `<${path}?${q.toString()}>; rel="next"`);
}

// ---- handlers ---------------------------------------------------------------

async function apiBase({ res }: RequestContext): Promise<void> {
  sendJson(res, 200, {});
}

async function getCatalog({ res, url, registry }: RequestContext): Promise<void> {
  const page = await registry.catalog(optionalInt(url, 'n'), url.searchParams.get('last') ?? undefined);
  linkHeader(res, '/v2/_catalog', page);
  sendJson(res, 200, { repositories: page.items });
}

async function getTags({ res, url, name, registry }: RequestContext): Promise<void> {
  const page = await registry.listTags(name, optionalInt(url, 'n'), url.searchParams.get('last') ?? undefined);
  linkHeader(res, `/v2/${name}/tags/list`, page);
  sendJson(res, 200, { name, tags: page.items });
}

async function getReferrers({ res, url, name, segment, registry }: RequestContext): Promise<void> {
  const digest = parseDigest(segment, 'referrers path');
  const artifactType = url.searchParams.get('artifactType') ?? undefined;
  const index = await registry.referrers(name, digest, artifactType);
  if (artifactType !== undefined) res.setHeader('OCI-Filters-Applied', 'artifactType');
  sendJson(res, 200, index, MediaTypes.ociIndex);
}

async function getBlob({ req, res, name, segment, registry }: RequestContext): Promise<void> {
  const digest = parseDigest(segment, 'blob path');
  const info = await registry.statBlob(name, digest);
  const range = parseRange(req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${info.size}`);
    // Not BLOB_UNKNOWN: the blob exists, and a client must not re-push it.
    throw registryError('UNSUPPORTED', `range "${req.headers.range}" is outside blob ${digest} of ${info.size} bytes`, { size: info.size }, 416);
  }
  const stream = req.method === 'HEAD' || info.size === 0 ? undefined : await registry.readBlob(digest, range ?? undefined);
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', `"${digest}"`);
  // Content-addressed: the bytes behind a digest never change.
  res.setHeader('Cache-Control', 'max-age=31536000');
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
    res.setHeader('Content-Length', range.end - range.start + 1);
  } else {
    res.statusCode = 200;
    res.setHeader('Content-Length', info.size);
  }
  if (!stream) {
    res.end();
    return;
  }
  try {
    await pipeline(stream, res);
  } catch (err) {
    // The client went away, or the blob vanished under us: nothing more to say.
    if (!res.destroyed) res.destroy(err as Error);
  }
}

/** One `bytes=` range (RFC 9110); several ranges are answered with the whole blob. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

async function deleteBlob({ res, name, segment, registry }: RequestContext): Promise<void> {
  const digest = parseDigest(segment, 'blob path');
  await registry.deleteBlob(name, digest);
  sendEmpty(res, 202, { 'Docker-Content-Digest': digest });
}

async function postUpload({ req, res, url, name, registry }: RequestContext): Promise<void> {
  const mount = url.searchParams.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount, 'mount parameter');
    const from = url.searchParams.get('from') ?? undefined;
    const info = await registry.mountBlob(name, digest, from);
    if (info) {
      sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      return;
    }
  }
  const digestParam = url.searchParams.get('digest');
  if (digestParam !== null && mount === null) {
    // Monolithic upload: the whole blob in this one request.
    const digest = parseDigest(digestParam, 'digest parameter');
    await registry.putBlob(name, req, digest, contentLength(req));
    sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    return;
  }
  const uuid = await registry.startUpload(name);
  // A POST without ?digest= may not carry data; if it does, take it as the first chunk.
  const offset = hasBody(req) ? await registry.appendUpload(name, uuid, req, undefined, contentLength(req)) : 0;
  sendEmpty(res, 202, uploadHeaders(name, uuid, offset));
}

async function getUploadStatus({ res, name, segment, registry }: RequestContext): Promise<void> {
  const offset = await registry.uploadOffset(name, segment);
  sendEmpty(res, 204, uploadHeaders(name, segment, offset));
}

async function patchUpload({ req, res, name, segment, registry }: RequestContext): Promise<void> {
  let offset: number;
  try {
    offset = await registry.appendUpload(name, segment, req, chunkRange(req), contentLength(req));
  } catch (err) {
    if (err instanceof RegistryError && err.status === 416) {
      // Tell the client where to resume (the spec's recovery path).
      const current = await registry.uploadOffset(name, segment).catch(() => undefined);
      if (current !== undefined) for (const [k, v] of Object.entries(uploadHeaders(name, segment, current))) res.setHeader(k, v);
    }
    throw err;
  }
  sendEmpty(res, 202, uploadHeaders(name, segment, offset));
}

async function putUpload({ req, res, url, name, segment, registry }: RequestContext): Promise<void> {
  // Refused before the session is touched: the client may retry the PUT with a digest.
  const digest: Digest = parseDigest(url.searchParams.get('digest'), 'digest parameter of the closing PUT');
  const body = hasBody(req) ? req : undefined;
  await registry.finishUpload(name, segment, digest, body, body ? chunkRange(req) : undefined, body ? contentLength(req) : undefined);
  sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

async function deleteUpload({ res, name, segment, registry }: RequestContext): Promise<void> {
  await registry.cancelUpload(name, segment);
  sendEmpty(res, 204);
}

async function getManifest({ req, res, name, segment, registry }: RequestContext): Promise<void> {
  const { record, bytes } = await registry.getManifest(name, segment, req.headers.accept);
  res.statusCode = 200;
  res.setHeader('Content-Type', record.mediaType);
  res.setHeader('Content-Length', bytes.length);
  res.setHeader('Docker-Content-Digest', record.digest);
  res.setHeader('ETag', `"${record.digest}"`);
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

async function putManifest({ req, res, name, segment, registry }: RequestContext): Promise<void> {
  const bytes = await readBodyBounded(req, MAX_MANIFEST_BYTES, 'manifest');
  const result = await registry.putManifest(name, segment, bytes, req.headers['content-type']);
  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${result.digest}`, 'Docker-Content-Digest': result.digest };
  if (result.subject) headers['OCI-Subject'] = result.subject;
  sendEmpty(res, 201, headers);
}

async function deleteManifest({ res, name, segment, registry }: RequestContext): Promise<void> {
  await registry.deleteManifest(name, segment);
  sendEmpty(res, 202);
}
