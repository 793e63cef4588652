/**
 * A client for one registry: the distribution-spec endpoints pull and push
 * use, with authorization and endpoint selection folded in. Plain HTTP is used
 * only for loopback registries and those listed insecure (HTTPS without
 * certificate checks is tried first for them, as docker does); everything else
 * is HTTPS.
 */
import { BerthError } from '../common/errors.ts';
import { httpRequest, readBody, drain, header } from './transport.ts';
import type { HttpResponse, RequestBody } from './transport.ts';
import { RegistryAuthorizer, repositoryScope } from './auth.ts';
import { apiHostFor, authKeyFor, isInsecureAllowed } from './hosts.ts';
import { lookupCredentials, dockerConfigPath } from './credentials.ts';
import { ACCEPTED_MANIFEST_MEDIA_TYPES } from '../oci/image-spec.ts';
import type { CatalogResponse, Credentials, RegistryErrorBody, TagsListResponse } from './types.ts';
import type { Digest } from '../content/types.ts';

export interface RegistryClientOptions {
  /** The registry as references name it: `docker.io`, `127.0.0.1:5000`, `ghcr.io`. */
  registry: string;
  /** Registries (host[:port] or CIDR) that may be spoken to without TLS verification / over HTTP. */
  insecureRegistries?: readonly string[];
  /**
   * Credentials to use. Undefined: look them up in the docker config file.
   * null: anonymous only.
   */
  credentials?: Credentials | null;
  /** docker config.json to read credentials from (default $DOCKER_CONFIG or ~/.docker). */
  configPath?: string;
  userAgent?: string;
  signal?: AbortSignal;
  /** Ask token servers for a refresh token (login). */
  offlineToken?: boolean;
  /** Force the URL scheme (tests, or a registry known to be HTTP-only). */
  scheme?: 'http' | 'https';
}

export interface RegistryRequest {
  method: string;
  /** Path under the registry root (starting with /v2/) or an absolute URL (upload Location). */
  path: string | URL;
  scopes: readonly string[];
  headers?: Record<string, string>;
  body?: RequestBody;
  followRedirects?: boolean;
}

export interface ManifestResponse {
  bytes: Buffer;
  contentType: string | undefined;
  /** Docker-Content-Digest, if the registry sent one. */
  digest: string | undefined;
}

export class RegistryClient {
  readonly registry: string;
  readonly apiHost: string;
  readonly insecureAllowed: boolean;
  readonly auth: RegistryAuthorizer;
  private readonly options: RegistryClientOptions;
  private base: Promise<string> | undefined;

  constructor(options: RegistryClientOptions) {
    this.options = options;
    this.registry = options.registry;
    this.apiHost = apiHostFor(options.registry);
    this.insecureAllowed = isInsecureAllowed(options.registry, options.insecureRegistries);
    const configPath = options.configPath ?? dockerConfigPath();
    this.auth = new RegistryAuthorizer({
      registry: options.registry,
      insecureTls: this.insecureAllowed,
      insecureAllowed: this.insecureAllowed,
      userAgent: options.userAgent,
      offlineToken: options.offlineToken,
      credentials: async () => {
        if (options.credentials === null) return undefined;
        if (options.credentials) return options.credentials;
        return lookupCredentials(authKeyFor(options.registry), configPath);
      },
    });
    if (options.scheme) this.base = Promise.resolve(`${options.scheme}://${this.apiHost}`);
  }

  /** https://host, or for loopback/insecure registries whichever of https/http answers. */
  baseUrl(): Promise<string> {
    this.base ??= this.resolveBase();
    return this.base;
  }

  private async resolveBase(): Promise<string> {
    const https = `https://${this.apiHost}`;
    if (!this.insecureAllowed) return https;
    let base = `http://${this.apiHost}`;
    try {
      const res = await httpRequest({ method: 'GET', url: new URL('/v2/', https), insecureTls: true, timeoutMs: 5_000, signal: this.options.signal });
      await drain(res);
      base = https;
    } catch {
      // No TLS there (handshake refused, reset or unanswered): plain HTTP, which this registry may use.
      this.options.signal?.throwIfAborted();
    }
    // Remembered per client (one pull or push), not per process: a loopback
    // registry may be restarted with or without TLS on the same port.
    return base;
  }

  /**
   * Send a request with whatever authorization the registry wants, answering a
   * 401 once (challenge → token/credentials → retry). Returns any other
   * status for the caller to judge.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const url = typeof req.path === 'string' ? new URL(req.path, await this.baseUrl()) : req.path;
    let scopes = [...req.scopes];
    // One retry to learn the challenge, one more to replace a token the registry refused.
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.auth.authorization(scopes);
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
      if (authorization) headers.authorization = authorization;
      const res = await httpRequest({
        method: req.method,
        url,
        headers,
        body: req.body,
        followRedirects: req.followRedirects,
        insecureTls: this.insecureAllowed,
        signal: this.options.signal,
      });
      if (res.status !== 401) return res;
      const mayRetry = attempt === 0 || (!refreshed && authorization?.startsWith('Bearer ') === true);
      if (attempt > 0) refreshed = true;
      const retryScopes = mayRetry ? await this.auth.onUnauthorized(res, scopes, authorization) : undefined;
      if (!retryScopes) {
        const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
        throw await this.unauthorizedError(req, url, body);
      }
      await drain(res);
      scopes = retryScopes;
    }
  }

  private async unauthorizedError(req: RegistryRequest, url: URL, body: Buffer): Promise<BerthError> {
    const creds = await this.auth.credentials();
    const detail = registryErrorText(body);
    const what = `${req.method} ${url.pathname}`;
    if (!creds) {
      return new BerthError(
        'BERTH_DISTRIBUTION_UNAUTHORIZED',
        `registry ${this.registry} requires authentication for ${what} and no credentials are stored for it; run \`berth login ${this.registry}\`${detail ? ` (${detail})` : ''}`,
        { status: 401 },
      );
    }
    return new BerthError(
      'BERTH_DISTRIBUTION_UNAUTHORIZED',
      `registry ${this.registry} refused the credentials${creds.username ? ` of "${creds.username}"` : ''} for ${what}${detail ? `: ${detail}` : ''}`,
      { status: 401 },
    );
  }

  /** Turn a non-2xx answer into an error that names the registry, the request and its error body. */
  async failure(res: HttpResponse, what: string): Promise<BerthError> {
    const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    const detail = registryErrorText(body);
    const suffix = detail ? `: ${detail}` : '';
    const where = `${what} at ${this.registry}`;
    switch (res.status) {
      case 404:
        return new BerthError('BERTH_DISTRIBUTION_NOT_FOUND', `${where}: not found${suffix}`, { status: 404 });
      case 403:
        return new BerthError('BERTH_DISTRIBUTION_DENIED', `${where}: access denied${suffix}`, { status: 403 });
      case 429:
        return new BerthError('BERTH_DISTRIBUTION_TOO_MANY_REQUESTS', `${where}: rate limited by the registry${suffix}`, { status: 429 });
      default:
        return new BerthError('BERTH_DISTRIBUTION_REGISTRY_ERROR', `${where}: HTTP ${res.status}${suffix}`, { status: res.status >= 500 ? 502 : res.status });
    }
  }

  /** GET /v2/: status and challenge, without authenticating. */
  async ping(): Promise<HttpResponse> {
    const res = await httpRequest({ method: 'GET', url: new URL('/v2/', await this.baseUrl()), insecureTls: this.insecureAllowed, signal: this.options.signal });
    return res;
  }

  async getManifest(repository: string, reference: string, accept: readonly string[] = ACCEPTED_MANIFEST_MEDIA_TYPES): Promise<ManifestResponse> {
    const res = await this.request({
      method: 'GET',
      path: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, ['pull'])],
      headers: { accept: accept.join(', ') },
    });
    if (res.status !== 200) throw await this.failure(res, `manifest ${repository}:${reference}`);
    // Manifests are small; 4 MiB is the distribution spec's recommended limit.
    const bytes = await readBody(res, 4 * 1024 * 1024);
    return { bytes, contentType: header(res, 'content-type')?.split(';')[0]?.trim(), digest: header(res, 'docker-content-digest') };
  }

  /** HEAD a blob: its size if the repository has it, else undefined. */
  async headBlob(repository: string, digest: Digest, actions: readonly string[] = ['pull']): Promise<number | undefined> {
    const res = await this.request({ method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, scopes: [repositoryScope(repository, actions)] });
    await drain(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.failure(res, `blob ${digest} in ${repository}`);
    const length = Number(header(res, 'content-length'));
    return Number.isFinite(length) ? length : -1;
  }

  /**
   * GET a blob (redirects followed, without our credentials on other hosts).
   * With `offset` > 0 asks for the rest only; `partial` says whether the
   * registry honoured that (206) or is sending the whole blob (200).
   */
  async openBlob(repository: string, digest: Digest, offset = 0): Promise<{ res: HttpResponse; partial: boolean }> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.request({ method: 'GET', path: `/v2/${repository}/blobs/${digest}`, scopes: [repositoryScope(repository, ['pull'])], headers });
    if (res.status === 200) return { res, partial: false };
    if (res.status === 206 && offset > 0) {
      const range = header(res, 'content-range');
      const start = range ? Number(/bytes (\d+)-/.exec(range)?.[1]) : NaN;
      if (start === offset) return { res, partial: true };
      await drain(res);
      // A range we did not ask for: start over without one.
      return this.openBlob(repository, digest, 0);
    }
    if (res.status === 416 && offset > 0) {
      await drain(res);
      return this.openBlob(repository, digest, 0);
    }
    throw await this.failure(res, `blob ${digest} of ${repository}`);
  }

  /**
   * POST an upload. With `mountFrom`, asks the registry to mount the blob from
   * that repository instead (201: done; 202: mount refused, upload instead).
   */
  async startUpload(repository: string, mount?: { digest: Digest; from: string }): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const scopes = [repositoryScope(repository, ['pull', 'push'])];
    let path = `/v2/${repository}/blobs/uploads/`;
    if (mount) {
      scopes.push(repositoryScope(mount.from, ['pull']));
      path += `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`;
    }
    const res = await this.request({ method: 'POST', path, scopes, followRedirects: false });
    await drain(res);
    if (res.status === 201 && mount) return { mounted: true };
    if (res.status === 202) return { mounted: false, location: await this.location(res, `upload to ${repository}`) };
    throw await this.failure(res, `starting an upload to ${repository}`);
  }

  /** PATCH one chunk of an upload; returns the next Location. */
  async uploadChunk(repository: string, location: URL, body: RequestBody, start: number, length: number): Promise<URL> {
    const res = await this.request({
      method: 'PATCH',
      path: location,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'content-range': `${start}-${start + length - 1}`,
      },
      body,
      followRedirects: false,
    });
    await drain(res);
    if (res.status !== 202) throw await this.failure(res, `uploading bytes ${start}-${start + length - 1} to ${repository}`);
    return this.location(res, `upload to ${repository}`);
  }

  /** PUT ?digest= to finish an upload, with the whole blob (monolithic) or the empty rest (chunked). */
  async finishUpload(repository: string, location: URL, digest: Digest, body?: RequestBody, length = 0): Promise<void> {
    const url = new URL(location.href);
    url.searchParams.set('digest', digest);
    const res = await this.request({
      method: 'PUT',
      path: url,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
      body: body ?? Buffer.alloc(0),
      followRedirects: false,
    });
    await drain(res);
    if (res.status !== 201 && res.status !== 204) throw await this.failure(res, `finishing the upload of ${digest} to ${repository}`);
  }

  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.request({
      method: 'PUT',
      path: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      headers: { 'content-type': mediaType },
      body: bytes,
      followRedirects: false,
    });
    await drain(res);
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.failure(res, `manifest ${repository}:${reference}`);
    return header(res, 'docker-content-digest');
  }

  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | URL = `/v2/${repository}/tags/list`;
    for (;;) {
      const res = await this.request({ method: 'GET', path, scopes: [repositoryScope(repository, ['pull'])] });
      if (res.status !== 200) throw await this.failure(res, `tags of ${repository}`);
      const body = JSON.parse((await readBody(res)).toString('utf8')) as TagsListResponse;
      tags.push(...(body.tags ?? []));
      const next = nextLink(res);
      if (!next) return tags;
      path = new URL(next, res.url);
    }
  }

  async catalog(): Promise<string[]> {
    const repositories: string[] = [];
    let path: string | URL = '/v2/_catalog';
    for (;;) {
      const res = await this.request({ method: 'GET', path, scopes: ['registry:catalog:*'] });
      if (res.status !== 200) throw await this.failure(res, 'catalog');
      const body = JSON.parse((await readBody(res)).toString('utf8')) as CatalogResponse;
      repositories.push(...(body.repositories ?? []));
      const next = nextLink(res);
      if (!next) return repositories;
      path = new URL(next, res.url);
    }
  }

  private async location(res: HttpResponse, what: string): Promise<URL> {
    const loc = header(res, 'location');
    if (!loc) throw new BerthError('BERTH_DISTRIBUTION_REGISTRY_ERROR', `${what} at ${this.registry}: registry answered ${res.status} without a Location`, { status: 502 });
    const url = new URL(loc, res.url);
    if (url.protocol === 'http:' && res.url.protocol === 'https:') {
      throw new BerthError('BERTH_DISTRIBUTION_BAD_REDIRECT', `${what} at ${this.registry}: upload location ${url.href} downgrades to plain HTTP; refused`, { status: 502 });
    }
    return url;
  }
}

function nextLink(res: HttpResponse): string | undefined {
  const link = header(res, 'link');
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return m?.[1];
}

/** The `errors` of a registry error body as one line (or the raw text start). */
export function registryErrorText(body: Buffer): string {
  if (body.length === 0) return '';
  const text = body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as RegistryErrorBody;
    if (Array.isArray(parsed.errors) && parsed.errors.length) {
      return parsed.errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ');
    }
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 300);
}
