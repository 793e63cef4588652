/**
 * Authentication against real docker-registry instances on loopback:
 * Bearer tokens from a token server (anonymous and with credentials, cached
 * per scope, refreshed after a 401), Basic auth via htpasswd, login/logout
 * writing docker's config.json, and credential helpers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerRegistry } from '../../helpers/peers/docker-registry.ts';
import type { DockerRegistry } from '../../helpers/peers/docker-registry.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { pullImage } from '../../../src/distribution/pull.ts';
import { pushImage } from '../../../src/distribution/push.ts';
import { login, logout } from '../../../src/distribution/login.ts';
import { lookupCredentials } from '../../../src/distribution/credentials.ts';
import { makeTestImage, storeWithImage } from './fixtures.ts';
import type { TestImage } from './fixtures.ts';
import { startTokenAuthRegistry } from './token-server.ts';
import type { TokenAuthRegistry } from './token-server.ts';

let dir: string;
let image: TestImage;

async function listBlobs(store: { list(): AsyncIterable<{ digest: string }> }): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out;
}

before(async () => {
  dir = await makeTempDir('berth-dist-auth-');
  image = await makeTestImage(dir, { extraLayers: 2, extraLayerBytes: 100 * 1024 });
});
after(async () => {
  if (dir) await removeTempDir(dir);
});

describe('Bearer token auth (docker-registry + token server on loopback)', () => {
  let reg: TokenAuthRegistry;
  before(async () => {
    reg = await startTokenAuthRegistry(join(dir, 'token-registry'), { alice: 's3cret' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('push with credentials, then pull: one token per scope set, reused for every blob', async () => {
    const src = await storeWithImage(join(dir, 'tok-src'), image);
    reg.tokenRequests.length = 0;
    const pushed = await pushImage({
      reference: `${reg.host}/private/app:1`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      credentials: { username: 'alice', password: 's3cret' },
    });
    assert.equal(pushed.digest, image.manifestDescriptor.digest);
    assert.ok(reg.tokenRequests.length >= 1 && reg.tokenRequests.length <= 2, `token requests: ${JSON.stringify(reg.tokenRequests.map((r) => r.scopes))}`);
    assert.ok(reg.tokenRequests.every((r) => r.basicUser === 'alice' && r.account === 'alice'));
    assert.ok(reg.tokenRequests.some((r) => r.scopes.includes('repository:private/app:pull,push')));

    reg.tokenRequests.length = 0;
    const dst = await openContentStore(join(dir, 'tok-dst'));
    const pulled = await pullImage({ reference: `${reg.host}/private/app:1`, store: dst, credentials: { username: 'alice', password: 's3cret' } });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.deepEqual(reg.tokenRequests.map((r) => r.scopes), [['repository:private/app:pull']]);
    for (const [d, b] of image.blobs) assert.ok((await dst.readBytes(d)).equals(b));
  });

  test('anonymous token for a public repository; a private one without credentials is a clear 401', async () => {
    const src = await storeWithImage(join(dir, 'tok-src2'), image);
    await pushImage({ reference: `${reg.host}/public/base:1`, store: src, manifestDescriptor: image.manifestDescriptor, credentials: { username: 'alice', password: 's3cret' } });
    reg.tokenRequests.length = 0;
    const dst = await openContentStore(join(dir, 'tok-dst2'));
    await pullImage({ reference: `${reg.host}/public/base:1`, store: dst, credentials: null });
    assert.equal(reg.tokenRequests.length, 1);
    assert.equal(reg.tokenRequests[0]!.basicUser, undefined, 'no credentials sent for an anonymous pull');

    const dst2 = await openContentStore(join(dir, 'tok-dst3'));
    await assert.rejects(pullImage({ reference: `${reg.host}/private/app:1`, store: dst2, credentials: null }), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNAUTHORIZED');
      assert.equal(err.status, 401);
      assert.match(err.message, /no credentials are stored/);
      assert.match(err.message, /berth login/);
      return true;
    });
    assert.deepEqual(await listBlobs(dst2), []);
  });

  test('a token the registry refuses (expired) is dropped and a fresh one fetched once', async () => {
    reg.tokenRequests.length = 0;
    reg.expireNextToken();
    const dst = await openContentStore(join(dir, 'tok-dst4'));
    const pulled = await pullImage({ reference: `${reg.host}/private/app:1`, store: dst, credentials: { username: 'alice', password: 's3cret' } });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.equal(reg.tokenRequests.length, 2);
  });

  test('wrong password: the token server refuses, the pull says so', async () => {
    const dst = await openContentStore(join(dir, 'tok-dst5'));
    await assert.rejects(pullImage({ reference: `${reg.host}/private/app:1`, store: dst, credentials: { username: 'alice', password: 'wrong' } }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNAUTHORIZED');
      assert.match(err.message, /refused the stored credentials/);
      return true;
    });
  });

  test('login validates against the token server and stores the entry; a wrong password stores nothing', async () => {
    const configPath = join(dir, 'tok-docker', 'config.json');
    await assert.rejects(login({ registry: reg.host, username: 'alice', password: 'nope', configPath }), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_LOGIN_FAILED');
      assert.equal(err.status, 401);
      assert.match(err.message, new RegExp(`login to ${reg.host.replace('.', '\\.')} failed`));
      return true;
    });
    assert.equal(existsSync(configPath), false);
    const ok = await login({ registry: `http://${reg.host}/`, username: 'alice', password: 's3cret', configPath });
    assert.equal(ok.status, 'Login Succeeded');
    assert.equal(ok.serverAddress, reg.host);
    // The token server handed out a refresh token: it is stored instead of the password.
    assert.match(ok.identityToken ?? '', /^rt-/);
    const stored = JSON.parse(await readFile(configPath, 'utf8')).auths[reg.host];
    assert.equal(stored.identitytoken, ok.identityToken);
    assert.ok(!JSON.stringify(stored).includes(Buffer.from('alice:s3cret').toString('base64')), 'the password is not stored');
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    // And a later pull uses the identity token (OAuth2 refresh-token grant), not a password.
    reg.tokenRequests.length = 0;
    const dst = await openContentStore(join(dir, 'tok-dst6'));
    const pulled = await pullImage({ reference: `${reg.host}/private/app:1`, store: dst, configPath });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.equal(reg.tokenRequests.length, 1);
    assert.equal(reg.tokenRequests[0]!.account, 'refresh');
    assert.deepEqual(reg.tokenRequests[0]!.granted, [{ type: 'repository', name: 'private/app', actions: ['pull'] }]);
  });
});

describe('Basic auth (docker-registry with htpasswd)', () => {
  let reg: DockerRegistry;
  let configDir: string;
  let configPath: string;
  before(async () => {
    reg = await startDockerRegistry({ htpasswd: { alice: 's3cret' } });
    configDir = join(dir, 'basic-docker');
    configPath = join(configDir, 'config.json');
  });
  after(async () => {
    await reg?.stop();
  });

  test('no credentials: push and pull fail with a clear 401 and write nothing', async () => {
    const src = await storeWithImage(join(dir, 'basic-src0'), image);
    await assert.rejects(pushImage({ reference: `${reg.host}/team/app:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath }), {
      code: 'BERTH_DISTRIBUTION_UNAUTHORIZED',
    });
    const dst = await openContentStore(join(dir, 'basic-dst0'));
    await assert.rejects(pullImage({ reference: `${reg.host}/team/app:1`, store: dst, configPath }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNAUTHORIZED');
      assert.match(err.message, new RegExp(`registry ${reg.host.replace('.', '\\.')} requires authentication`));
      return true;
    });
    assert.deepEqual(await listBlobs(dst), []);
  });

  test('login with a wrong password fails and leaves config.json as it was', async () => {
    await mkdir(configDir, { recursive: true });
    const before = JSON.stringify({ auths: { 'other.example:5000': { auth: Buffer.from('bob:pw').toString('base64') } }, psFormat: 'table {{.ID}}' }, null, '\t');
    await writeFile(configPath, before);
    await assert.rejects(login({ registry: reg.host, username: 'alice', password: 'wrong', configPath }), { code: 'BERTH_DISTRIBUTION_LOGIN_FAILED' });
    assert.equal(await readFile(configPath, 'utf8'), before);
  });

  test('login stores base64 user:password with mode 0600, keeping other settings; push and pull then work', async () => {
    const result = await login({ registry: reg.host, username: 'alice', password: 's3cret', configPath });
    assert.equal(result.status, 'Login Succeeded');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    assert.equal(config.auths[reg.host].auth, Buffer.from('alice:s3cret').toString('base64'));
    assert.equal(config.auths['other.example:5000'].auth, Buffer.from('bob:pw').toString('base64'));
    assert.equal(config.psFormat, 'table {{.ID}}');
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);

    const src = await storeWithImage(join(dir, 'basic-src'), image);
    await pushImage({ reference: `${reg.host}/team/app:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const dst = await openContentStore(join(dir, 'basic-dst'));
    const pulled = await pullImage({ reference: `${reg.host}/team/app:1`, store: dst, configPath });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
  });

  test('logout removes the entry (and only it); a second logout reports nothing to remove', async () => {
    const out = await logout({ registry: reg.host, configPath });
    assert.equal(out.removed, true);
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    assert.equal(config.auths[reg.host], undefined);
    assert.ok(config.auths['other.example:5000']);
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    assert.equal((await logout({ registry: reg.host, configPath })).removed, false);
    const dst = await openContentStore(join(dir, 'basic-dst2'));
    await assert.rejects(pullImage({ reference: `${reg.host}/team/app:1`, store: dst, configPath }), { code: 'BERTH_DISTRIBUTION_UNAUTHORIZED' });
  });

  test('credsStore: login, pull and logout go through docker-credential-<name>', async (t) => {
    // A real credential helper program (shell script) keeping secrets in one file per server.
    const bin = join(dir, 'helper-bin');
    const vault = join(dir, 'helper-vault');
    await mkdir(bin, { recursive: true });
    await mkdir(vault, { recursive: true });
    const script = `#!/bin/sh
set -e
VAULT='${vault}'
case "$1" in
  store) cat > "$VAULT/in.json"; url=$(sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p' "$VAULT/in.json"); mv "$VAULT/in.json" "$VAULT/$(echo "$url" | tr '/:' '__')" ;;
  get) url=$(cat); f="$VAULT/$(echo "$url" | tr '/:' '__')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) url=$(cat); f="$VAULT/$(echo "$url" | tr '/:' '__')"; if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) exit 2 ;;
esac
`;
    await writeFile(join(bin, 'docker-credential-berthtest'), script);
    await chmod(join(bin, 'docker-credential-berthtest'), 0o755);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    t.after(() => {
      process.env.PATH = oldPath;
    });
    const helperConfig = join(dir, 'helper-docker', 'config.json');
    await mkdir(join(dir, 'helper-docker'), { recursive: true });
    await writeFile(helperConfig, JSON.stringify({ credsStore: 'berthtest' }));

    await login({ registry: reg.host, username: 'alice', password: 's3cret', configPath: helperConfig });
    const config = JSON.parse(await readFile(helperConfig, 'utf8'));
    assert.deepEqual(config.auths[reg.host], {}, 'the secret lives in the helper, not in config.json');
    assert.ok(!(await readFile(helperConfig, 'utf8')).includes(Buffer.from('alice:s3cret').toString('base64')));
    assert.deepEqual(await lookupCredentials(reg.host, helperConfig), { username: 'alice', password: 's3cret' });
    const dst = await openContentStore(join(dir, 'helper-dst'));
    const src = await storeWithImage(join(dir, 'helper-src'), image);
    await pushImage({ reference: `${reg.host}/team/helper:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath: helperConfig });
    await pullImage({ reference: `${reg.host}/team/helper:1`, store: dst, configPath: helperConfig });
    assert.equal((await logout({ registry: reg.host, configPath: helperConfig })).removed, true);
    assert.equal(await lookupCredentials(reg.host, helperConfig), undefined);
  });

  test('a credsStore whose helper is not installed is a clear error', async () => {
    const missingConfig = join(dir, 'missing-helper', 'config.json');
    await mkdir(join(dir, 'missing-helper'), { recursive: true });
    await writeFile(missingConfig, JSON.stringify({ credsStore: 'berth-no-such-helper' }));
    const dst = await openContentStore(join(dir, 'missing-dst'));
    await assert.rejects(pullImage({ reference: `${reg.host}/team/app:1`, store: dst, configPath: missingConfig }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_CREDENTIAL_HELPER_MISSING');
      assert.match(err.message, /docker-credential-berth-no-such-helper is not on PATH/);
      assert.match(err.message, new RegExp(missingConfig));
      return true;
    });
  });
});
