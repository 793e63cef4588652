/**
 * Registry authorization: remembers the challenge a registry answered with
 * (Bearer or Basic), gets Bearer tokens from the realm it names (anonymously,
 * with Basic credentials, or with an OAuth2 refresh token), caches each token
 * per scope set until shortly before it expires, and drops it when the
 * registry answers 401 anyway so the next attempt fetches a fresh one.
 */
import { BerthError } from '../common/errors.ts';
import { httpRequest, readBody, header } from './transport.ts';
import { parseWwwAuthenticate } from './challenge.ts';
import { isLoopbackHost } from './hosts.ts';
import type { HttpResponse } from './transport.ts';
import type { AuthChallenge, Credentials, TokenResponse } from './types.ts';

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens are renewed this long before they expire, so a slow layer does not die halfway. */
const EXPIRY_SLACK_MS = 10_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;

export interface AuthorizerOptions {
  /** The registry's host:port, for messages and for the plain-HTTP rule on realms. */
  registry: string;
  /** Resolved lazily: a registry that never challenges never makes us read config.json. */
  credentials: () => Promise<Credentials | undefined>;
  insecureTls?: boolean;
  /** Plain HTTP allowed for this registry (loopback / listed insecure). */
  insecureAllowed?: boolean;
  userAgent?: string;
  /**
   * Ask the token server for a refresh token too (`offline_token=true`), as
   * `docker login` does; one handed out is kept in `refreshToken` for storing
   * as the identitytoken.
   */
  offlineToken?: boolean;
}

export class RegistryAuthorizer {
  readonly registry: string;
  /** A refresh token the token server handed out (only with offlineToken). */
  refreshToken: string | undefined;
  private challenge: AuthChallenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private credentialsPromise: Promise<Credentials | undefined> | undefined;
  private readonly options: AuthorizerOptions;

  constructor(options: AuthorizerOptions) {
    this.options = options;
    this.registry = options.registry;
  }

  credentials(): Promise<Credentials | undefined> {
    this.credentialsPromise ??= this.options.credentials();
    return this.credentialsPromise;
  }

  /** The scheme this registry asked for last, if it has asked. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** Authorization header for a request needing `scopes`, or undefined if none is needed/known. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const creds = await this.credentials();
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      if (!creds || creds.username === undefined) return undefined;
      return basicHeader(creds.username, creds.password ?? '');
    }
    if (challenge.scheme === 'bearer') {
      const token = await this.token(challenge, scopes, creds);
      return `Bearer ${token.token}`;
    }
    return undefined;
  }

  /**
   * Learn from a 401: record the challenge, forget the token that was refused.
   * Returns the scopes the registry says it needs (insufficient_scope) merged
   * with ours, or undefined when retrying cannot help.
   */
  async onUnauthorized(res: HttpResponse, scopes: readonly string[], sentAuthorization: string | undefined): Promise<string[] | undefined> {
    const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
    const chosen = challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
    if (!chosen) return undefined;
    const changed = !this.challenge || this.challenge.scheme !== chosen.scheme || this.challenge.params.realm !== chosen.params.realm;
    this.challenge = chosen;
    const wanted = new Set(scopes);
    if (chosen.params.scope) for (const s of chosen.params.scope.split(' ')) if (s) wanted.add(s);
    const merged = [...wanted];
    if (chosen.scheme === 'bearer') {
      // Forget only the token this very request was refused with: parallel first
      // requests all get a 401 before any token exists, and must not throw away
      // the token one of them has fetched meanwhile.
      const sent = sentAuthorization?.startsWith('Bearer ') ? sentAuthorization.slice('Bearer '.length) : undefined;
      for (const key of [tokenKey(chosen, scopes), tokenKey(chosen, merged)]) {
        if (sent !== undefined && this.tokens.get(key)?.token === sent) this.tokens.delete(key);
      }
      // A refused token is retried once with a fresh one (the client stops after that).
      return merged;
    }
    // Basic: only worth retrying if we did not already send the credentials.
    const creds = await this.credentials();
    if (!creds || creds.username === undefined) return undefined;
    return sentAuthorization === undefined || changed ? merged : undefined;
  }

  private async token(challenge: AuthChallenge, scopes: readonly string[], creds: Credentials | undefined): Promise<CachedToken> {
    const key = tokenKey(challenge, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, scopes, creds).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const token = await pending;
    this.tokens.set(key, token);
    return token;
  }

  /** Ask the token server (the challenge's realm) for a token covering `scopes`. */
  async fetchToken(challenge: AuthChallenge, scopes: readonly string[], creds: Credentials | undefined): Promise<CachedToken> {
    const realmText = challenge.params.realm;
    if (!realmText) throw new BerthError('BERTH_DISTRIBUTION_BAD_CHALLENGE', `registry ${this.registry} sent a Bearer challenge without a realm`, { status: 502 });
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new BerthError('BERTH_DISTRIBUTION_BAD_CHALLENGE', `registry ${this.registry} sent a Bearer challenge with an invalid realm "${realmText}"`, { status: 502 });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new BerthError('BERTH_DISTRIBUTION_BAD_CHALLENGE', `registry ${this.registry}: token realm ${realm.href} is not an http(s) URL`, { status: 502 });
    }
    const hasSecret = !!(creds?.identityToken || (creds?.username !== undefined && creds.password));
    if (realm.protocol === 'http:' && hasSecret && !isLoopbackHost(realm.host) && !this.options.insecureAllowed) {
      throw new BerthError(
        'BERTH_DISTRIBUTION_INSECURE_REALM',
        `registry ${this.registry} asks for credentials to be sent over plain HTTP to ${realm.origin}; refused (mark the registry insecure to allow it)`,
        { status: 502 },
      );
    }
    const service = challenge.params.service;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
    let res: HttpResponse;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with an identitytoken.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      headers['content-type'] = 'application/x-www-form-urlencoded';
      res = await httpRequest({ method: 'POST', url: realm, headers, body: Buffer.from(form.toString()), insecureTls: this.options.insecureTls });
    } else {
      const url = new URL(realm.href);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds?.username) {
        url.searchParams.set('account', creds.username);
        headers.authorization = basicHeader(creds.username, creds.password ?? '');
        if (this.options.offlineToken) {
          url.searchParams.set('offline_token', 'true');
          url.searchParams.set('client_id', 'berth');
        }
      }
      res = await httpRequest({ method: 'GET', url, headers, insecureTls: this.options.insecureTls });
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new BerthError(
        'BERTH_DISTRIBUTION_UNAUTHORIZED',
        creds
          ? `token server ${realm.origin} for registry ${this.registry} refused the stored credentials (HTTP ${res.status})`
          : `registry ${this.registry} needs authentication and no credentials are stored for it; run \`berth login ${this.registry}\``,
        { status: 401 },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      throw new BerthError('BERTH_DISTRIBUTION_TOKEN_FAILED', `token server ${realm.href} for registry ${this.registry} answered HTTP ${res.status}: ${body.toString('utf8').slice(0, 300)}`, { status: 502 });
    }
    let parsed: TokenResponse;
    try {
      parsed = JSON.parse(body.toString('utf8')) as TokenResponse;
    } catch {
      throw new BerthError('BERTH_DISTRIBUTION_TOKEN_FAILED', `token server ${realm.href} answered something that is not JSON (content-type ${header(res, 'content-type') ?? 'none'})`, { status: 502 });
    }
    const token = parsed.token || parsed.access_token;
    if (!token || typeof token !== 'string') {
      throw new BerthError('BERTH_DISTRIBUTION_TOKEN_FAILED', `token server ${realm.href} answered without "token" or "access_token"`, { status: 502 });
    }
    if (this.options.offlineToken && typeof parsed.refresh_token === 'string' && parsed.refresh_token) this.refreshToken = parsed.refresh_token;
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : NaN;
    const start = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
    return { token, expiresAt: start + lifetime * 1000 - EXPIRY_SLACK_MS };
  }

  /** Set the challenge directly (after a ping). */
  remember(challenge: AuthChallenge): void {
    this.challenge = challenge;
  }
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function tokenKey(challenge: AuthChallenge, scopes: readonly string[]): string {
  return `${challenge.params.realm}\n${challenge.params.service ?? ''}\n${[...scopes].sort().join(' ')}`;
}

/** `repository:<name>:<actions>` as the token spec spells scopes. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}
