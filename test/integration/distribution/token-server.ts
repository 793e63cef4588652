/**
 * A tiny Docker-token-auth server on 127.0.0.1 and a docker-registry that
 * trusts it: the registry answers 401 with `Bearer realm=…,service=…,scope=…`,
 * this server hands out RS256 JWTs (x5c header chaining to the certificate
 * the registry trusts) granting what the account may do, and the registry
 * verifies them. Real token auth end to end, nothing mocked in the client's path.
 *
 * Policy: repositories under public/ may be pulled anonymously; everything
 * else needs the Basic credentials given here.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, startLogged, stopProcess, waitUntil } from '../../helpers/peers/process.ts';
import { DOCKER_REGISTRY_BIN } from '../../helpers/peers/docker-registry.ts';

export interface TokenRequestLog {
  account?: string;
  scopes: string[];
  basicUser?: string;
  granted: { type: string; name: string; actions: string[] }[];
}

export interface TokenAuthRegistry {
  host: string;
  tokenUrl: string;
  tokenRequests: TokenRequestLog[];
  /** Make the next token issued already expired (the registry will refuse it). */
  expireNextToken(): void;
  stop(): Promise<void>;
}

const SERVICE = 'berth-test-registry';
const ISSUER = 'berth-test-token-issuer';

export async function startTokenAuthRegistry(dir: string, users: Record<string, string>): Promise<TokenAuthRegistry> {
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=berth-test-token-issuer'], {
    stdio: 'ignore',
  });
  const key = await readFile(keyPath, 'utf8');
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const tokenRequests: TokenRequestLog[] = [];
  let expireNext = false;

  const refreshTokens = new Map<string, string>();
  const tokenServer: Server = createServer((req, res) => {
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (how a stored identitytoken is used).
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const user = form.get('grant_type') === 'refresh_token' ? refreshTokens.get(form.get('refresh_token') ?? '') : undefined;
        if (!user) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
          return;
        }
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        issue(res, user, scopes, form.get('service') ?? '', undefined, 'refresh');
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    let basicUser: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (users[user!] === undefined || users[user!] !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      basicUser = user;
    }
    let refresh: string | undefined;
    if (basicUser !== undefined && url.searchParams.get('offline_token') === 'true') {
      refresh = `rt-${randomBytes(12).toString('hex')}`;
      refreshTokens.set(refresh, basicUser);
    }
    issue(res, basicUser, url.searchParams.getAll('scope'), url.searchParams.get('service') ?? '', refresh, url.searchParams.get('account') ?? undefined);
  });
  function issue(res: import('node:http').ServerResponse, basicUser: string | undefined, scopes: string[], service: string, refresh: string | undefined, account: string | undefined) {
    const granted = scopes
      .map((s) => {
        const [type, name, actions] = s.split(':') as [string, string, string];
        const allowed = (actions ?? '').split(',').filter((a) => basicUser !== undefined || (name.startsWith('public/') && a === 'pull'));
        return { type, name, actions: allowed };
      })
      .filter((g) => g.type === 'repository' && g.actions.length > 0);
    tokenRequests.push({ account, scopes, basicUser, granted });
    const now = Math.floor(Date.now() / 1000);
    // Well past distribution's 60 s leeway when expired on purpose.
    const exp = expireNext ? now - 600 : now + 300;
    expireNext = false;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: ISSUER,
      sub: basicUser ?? '',
      aud: service,
      exp,
      nbf: now - 900,
      iat: now - 900,
      jti: randomBytes(8).toString('hex'),
      access: granted,
    };
    const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const signingInput = `${b64url(header)}.${b64url(claims)}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key).toString('base64url');
    const token = `${signingInput}.${signature}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString(), ...(refresh ? { refresh_token: refresh } : {}) }));
  }
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;

  const port = await freePort();
  const storage = join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const config =
    `version: 0.1\n` +
    `log:\n  level: warn\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString('hex')}\n` +
    `auth:\n  token:\n    realm: ${tokenUrl}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${certPath}\n`;
  await writeFile(join(dir, 'config.yml'), config);
  const proc = startLogged(DOCKER_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
  const stop = async () => {
    await stopProcess(proc);
    tokenServer.closeAllConnections();
    await new Promise<void>((r) => tokenServer.close(() => r()));
  };
  try {
    await waitUntil(`token-auth docker-registry on 127.0.0.1:${port}`, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.arrayBuffer();
      return res.status === 401;
    }, { proc });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host: `127.0.0.1:${port}`,
    tokenUrl,
    tokenRequests,
    expireNextToken: () => {
      expireNext = true;
    },
    stop,
  };
}
