import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, readFile, stat, mkdir, chmod } from 'node:fs/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { dockerConfigPath, lookupCredentials, storeCredentials, eraseCredentials, readDockerConfig } from '../../../src/distribution/credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker config.json credentials', async () => {
  const dir = await makeTempDir('berth-creds-');
  after(() => removeTempDir(dir));

  test('config path: $DOCKER_CONFIG wins over ~/.docker', () => {
    assert.equal(dockerConfigPath({ DOCKER_CONFIG: '/etc/dc', HOME: '/home/x' }), '/etc/dc/config.json');
    assert.equal(dockerConfigPath({ HOME: '/home/x' }), '/home/x/.docker/config.json');
  });

  test('auths entries: base64 auth (password may contain colons), identitytoken, key spelled with scheme/path', async () => {
    const path = join(dir, 'a.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hubuser:pa:ss') },
          'http://reg.example:5000/v2/': { auth: b64('u:p') },
          'tok.example': { auth: b64('u2:'), identitytoken: 'refresh-123' },
        },
      }),
    );
    assert.deepEqual(await lookupCredentials('https://index.docker.io/v1/', path), { username: 'hubuser', password: 'pa:ss' });
    assert.deepEqual(await lookupCredentials('reg.example:5000', path), { username: 'u', password: 'p' });
    assert.deepEqual(await lookupCredentials('tok.example', path), { username: 'u2', password: '', identityToken: 'refresh-123' });
    assert.equal(await lookupCredentials('nothere.example', path), undefined);
  });

  test('a missing config file means no credentials; a broken one is a clear error naming the file', async () => {
    assert.equal(await lookupCredentials('x', join(dir, 'missing.json')), undefined);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"auths": {');
    await assert.rejects(readDockerConfig(bad), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_CONFIG_INVALID');
      assert.match(err.message, new RegExp(bad));
      return true;
    });
    const notB64 = join(dir, 'nob64.json');
    await writeFile(notB64, JSON.stringify({ auths: { h: { auth: b64('no-colon-here') } } }));
    await assert.rejects(lookupCredentials('h', notB64), /auths\["h"\]\.auth is not base64 of "user:password"/);
    const arr = join(dir, 'arr.json');
    await writeFile(arr, JSON.stringify({ auths: [] }));
    await assert.rejects(readDockerConfig(arr), /"auths" must be an object/);
  });

  test('store and erase rewrite the file with mode 0600 and keep everything else', async () => {
    const path = join(dir, 'sub', 'config.json');
    await storeCredentials('reg:1', { username: 'a', password: 'b' }, path);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await writeFile(path, JSON.stringify({ ...JSON.parse(await readFile(path, 'utf8')), detachKeys: 'ctrl-x' }));
    await storeCredentials('http://reg:1/', { username: 'c', password: 'd' }, path); // same registry, other spelling: replaced
    const cfg = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual(Object.keys(cfg.auths), ['http://reg:1/']);
    assert.equal(cfg.detachKeys, 'ctrl-x');
    assert.equal(await eraseCredentials('reg:1', path), true);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).auths, {});
    assert.equal(await eraseCredentials('reg:1', path), false);
  });

  test('logging out of a registry never logged in to creates no file', async () => {
    const path = join(dir, 'never', 'config.json');
    assert.equal(await eraseCredentials('reg:9', path), false);
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  test('credHelpers picks a helper per registry; other registries still use auths', async (t) => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    // A helper that knows one server and answers docker's "not found" for the rest.
    await writeFile(
      join(bin, 'docker-credential-unit'),
      `#!/bin/sh\nurl=$(cat)\nif [ "$1" = get ] && [ "$url" = "helped.example" ]; then echo '{"ServerURL":"helped.example","Username":"<token>","Secret":"id-tok"}'; exit 0; fi\necho "credentials not found in native keychain"; exit 1\n`,
    );
    await chmod(join(bin, 'docker-credential-unit'), 0o755);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    t.after(() => {
      process.env.PATH = oldPath;
    });
    const path = join(dir, 'helpers.json');
    await writeFile(path, JSON.stringify({ credHelpers: { 'helped.example': 'unit', 'empty.example': 'unit' }, auths: { 'plain.example': { auth: b64('p:q') } } }));
    assert.deepEqual(await lookupCredentials('helped.example', path), { identityToken: 'id-tok' });
    assert.equal(await lookupCredentials('empty.example', path), undefined);
    assert.deepEqual(await lookupCredentials('plain.example', path), { username: 'p', password: 'q' });
  });

  test('a credential helper name that is not a plain suffix is refused (no path tricks)', async () => {
    const path = join(dir, 'evil.json');
    await writeFile(path, JSON.stringify({ credHelpers: { 'reg:1': '../../bin/sh' } }));
    await assert.rejects(lookupCredentials('reg:1', path), { code: 'BERTH_DISTRIBUTION_CONFIG_INVALID' });
  });
});
