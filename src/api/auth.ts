/**
 * POST /auth: check credentials against a registry the way `docker login`
 * has dockerd do it — the daemon verifies, the client stores. Uses the
 * distribution client (Basic or Bearer, as the registry's challenge asks).
 */
import { BerthError, errorMessage, isBerthError } from '../common/errors.ts';
import { RegistryClient } from '../distribution/client.ts';
import { normaliseRegistryName } from '../distribution/login.ts';
import { drain } from '../distribution/transport.ts';
import type { AuthConfig } from './types.ts';

/** The Basic `auth` field of an AuthConfig ("user:password" in base64) → parts. */
function fromAuthField(auth: string | undefined): { username?: string; password?: string } {
  if (!auth) return {};
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? {} : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export async function checkLogin(auth: AuthConfig, insecureRegistries: readonly string[]): Promise<{ identityToken?: string }> {
  const registry = normaliseRegistryName(auth.serveraddress);
  const basic = fromAuthField(auth.auth);
  const username = auth.username || basic.username;
  const password = auth.password || basic.password;
  if (!username || !password) {
    throw new BerthError('BERTH_API_LOGIN', `login to ${registry}: username and password are required`, { status: 400 });
  }
  const client = new RegistryClient({ registry, insecureRegistries, credentials: { username, password } });
  try {
    const res = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
    await drain(res);
    if (res.status !== 200) throw await client.failure(res, 'GET /v2/');
  } catch (err) {
    if (isBerthError(err, 'BERTH_DISTRIBUTION_UNAUTHORIZED') || (isBerthError(err) && err.status === 401)) {
      throw new BerthError('BERTH_API_LOGIN', `Get "${registry}/v2/": unauthorized: incorrect username or password`, { status: 401, cause: err });
    }
    throw new BerthError('BERTH_API_LOGIN', `login to ${registry} failed: ${errorMessage(err)}`, { status: 500, cause: err });
  }
  return {};
}
