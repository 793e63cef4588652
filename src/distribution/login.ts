/**
 * `login` / `logout`, as the docker CLI does them: the credentials are tried
 * against the registry first (Basic on /v2/, or a token from the Bearer realm
 * followed by /v2/ with it) and only stored once the registry has accepted
 * them, in the same config.json docker uses (or its credential helper).
 */
import { BerthError, isBerthError, errorMessage } from '../common/errors.ts';
import { RegistryClient } from './client.ts';
import { drain } from './transport.ts';
import { DOCKER_HUB_DOMAIN, apiHostFor, authKeyFor, DOCKER_HUB_API_HOST } from './hosts.ts';
import { dockerConfigPath, eraseCredentials, storeCredentials } from './credentials.ts';

export interface LoginOptions {
  /** `127.0.0.1:5000`, `https://ghcr.io`, `docker.io` … (default Docker Hub). */
  registry?: string;
  username: string;
  password: string;
  configPath?: string;
  insecureRegistries?: readonly string[];
  signal?: AbortSignal;
}

export interface LoginResult {
  status: 'Login Succeeded';
  /** The registry as normalised (host[:port], or docker.io). */
  registry: string;
  /** The config.json key the credentials were stored under. */
  serverAddress: string;
  configPath: string;
  /** Set when the registry's token server handed out a refresh token (stored as identitytoken). */
  identityToken?: string;
}

/**
 * The registry part of what a user types after `login`: scheme and path are
 * dropped (`https://index.docker.io/v1/` → docker.io, `http://localhost:5000/` →
 * localhost:5000).
 */
export function normaliseRegistryName(input: string | undefined): string {
  if (input === undefined || input.trim() === '') return DOCKER_HUB_DOMAIN;
  let s = input.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  if (s === '' || /[\s@]/.test(s)) {
    throw new BerthError('BERTH_DISTRIBUTION_INVALID_REGISTRY', `invalid registry address ${JSON.stringify(input)}: expected host[:port]`, { status: 400 });
  }
  s = s.toLowerCase();
  return apiHostFor(s) === DOCKER_HUB_API_HOST ? DOCKER_HUB_DOMAIN : s;
}

export async function login(opts: LoginOptions): Promise<LoginResult> {
  const registry = normaliseRegistryName(opts.registry);
  if (!opts.username) throw new BerthError('BERTH_DISTRIBUTION_LOGIN_FAILED', `login to ${registry}: a username is required`, { status: 400 });
  if (!opts.password) throw new BerthError('BERTH_DISTRIBUTION_LOGIN_FAILED', `login to ${registry}: a password (or token) is required`, { status: 400 });
  const configPath = opts.configPath ?? dockerConfigPath();
  const client = new RegistryClient({
    registry,
    insecureRegistries: opts.insecureRegistries,
    credentials: { username: opts.username, password: opts.password },
    signal: opts.signal,
    offlineToken: true,
  });
  try {
    // Unauthenticated first: the 401 tells us Basic or Bearer (and the realm), the retry proves the credentials.
    const res = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
    await drain(res);
    if (res.status !== 200) throw await client.failure(res, 'GET /v2/');
  } catch (err) {
    if (isBerthError(err, 'BERTH_DISTRIBUTION_UNAUTHORIZED')) {
      throw new BerthError('BERTH_DISTRIBUTION_LOGIN_FAILED', `login to ${registry} failed: unauthorized: incorrect username or password (${errorMessage(err)})`, {
        status: 401,
        cause: err,
      });
    }
    throw new BerthError('BERTH_DISTRIBUTION_LOGIN_FAILED', `login to ${registry} failed: ${errorMessage(err)}`, { status: isBerthError(err) ? err.status : 502, cause: err });
  }
  const serverAddress = authKeyFor(registry);
  // A refresh token, when the token server gives one, is stored instead of the password (as docker does).
  const identityToken = client.auth.refreshToken;
  await storeCredentials(serverAddress, identityToken ? { username: opts.username, identityToken } : { username: opts.username, password: opts.password }, configPath);
  return { status: 'Login Succeeded', registry, serverAddress, configPath, ...(identityToken ? { identityToken } : {}) };
}

export interface LogoutResult {
  registry: string;
  serverAddress: string;
  /** False when there were no credentials for it ("Not logged in to …"). */
  removed: boolean;
}

export async function logout(opts: { registry?: string; configPath?: string } = {}): Promise<LogoutResult> {
  const registry = normaliseRegistryName(opts.registry);
  const serverAddress = authKeyFor(registry);
  const removed = await eraseCredentials(serverAddress, opts.configPath ?? dockerConfigPath());
  return { registry, serverAddress, removed };
}
