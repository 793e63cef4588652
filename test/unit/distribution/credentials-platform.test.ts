import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, readFile, stat } from 'node:fs/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { dockerConfigPath, lookupCredentials, storeCredentials, eraseCredentials, readDockerConfig } from '../../../src/distribution/credentials.ts';
import { parsePlatform, selectManifestForPlatform, normalisePlatform } from '../../../src/distribution/platform-select.ts';
import type { ImageIndex } from '../../../src/oci/image-spec.ts';

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

  test('a credential helper name that is not a plain suffix is refused (no path tricks)', async () => {
    const path = join(dir, 'evil.json');
    await writeFile(path, JSON.stringify({ credHelpers: { 'reg:1': '../../bin/sh' } }));
    await assert.rejects(lookupCredentials('reg:1', path), { code: 'BERTH_DISTRIBUTION_CONFIG_INVALID' });
  });
});

describe('platform selection', () => {
  const d = (n: number) => `sha256:${String(n).repeat(64)}` as const;
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(3), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(4), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(5), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };

  test('parse and normalise os/arch/variant', () => {
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(normalisePlatform({ os: 'Linux', architecture: 'arm', variant: '6' }), { os: 'linux', architecture: 'arm', variant: 'v6' });
    for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d']) assert.throws(() => parsePlatform(bad), { code: 'BERTH_DISTRIBUTION_INVALID_PLATFORM' });
  });

  test('picks the matching entry, variants included; arm64 without variant means v8', () => {
    assert.equal(selectManifestForPlatform(index, parsePlatform('linux/amd64'), false).digest, d(1));
    assert.equal(selectManifestForPlatform(index, parsePlatform('linux/arm/v6'), true).digest, d(2));
    assert.equal(selectManifestForPlatform(index, parsePlatform('linux/arm'), false).digest, d(3));
    assert.equal(selectManifestForPlatform(index, parsePlatform('linux/arm64/v8'), true).digest, d(4));
  });

  test('no match is a 404 listing what is offered (never the attestation entry)', () => {
    assert.throws(
      () => selectManifestForPlatform(index, parsePlatform('windows/amd64'), false),
      (err: Error & { code?: string; status?: number }) => {
        assert.equal(err.code, 'BERTH_DISTRIBUTION_NO_MATCHING_PLATFORM');
        assert.equal(err.status, 404);
        assert.match(err.message, /windows\/amd64/);
        assert.ok(!err.message.includes('unknown'));
        return true;
      },
    );
    assert.throws(() => selectManifestForPlatform(index, parsePlatform('linux/arm/v5'), true), /no matching manifest for linux\/arm\/v5/);
  });
});
