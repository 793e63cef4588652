/**
 * The X-Registry-Auth header the CLI sends with pull and push: base64url of
 * the JSON credentials for the image's registry from ~/.docker/config.json
 * (or `{}`), as the docker CLI does.
 */
import { lookupCredentials } from '../distribution/credentials.ts';
import { authKeyFor } from '../distribution/hosts.ts';
import type { AuthConfig } from '../api/types.ts';

export function encodeAuthHeader(auth: AuthConfig): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64url');
}

export async function registryAuthHeader(domain: string): Promise<string> {
  try {
    const creds = await lookupCredentials(authKeyFor(domain));
    if (!creds) return 'e30=';
    const auth: AuthConfig = { serveraddress: domain };
    if (creds.username) auth.username = creds.username;
    if (creds.password) auth.password = creds.password;
    if (creds.identityToken) auth.identitytoken = creds.identityToken;
    if (creds.registryToken) auth.registrytoken = creds.registryToken;
    return encodeAuthHeader(auth);
  } catch {
    return 'e30=';
  }
}
