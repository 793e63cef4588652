import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRepositoryName, isValidRepositoryName, isValidTag, parseDigest, parseManifestReference } from '../../../src/registry/names.ts';
import { RegistryError } from '../../../src/registry/errors.ts';

test('repository names follow the distribution grammar', () => {
  for (const ok of ['a', 'library/busybox', 'a.b_c__d-e---f/g0', 'x/y/z/w', '0', 'a'.repeat(255)]) {
    assert.ok(isValidRepositoryName(ok), ok);
  }
  for (const bad of ['', 'A', 'a/', '/a', 'a//b', 'a___b', 'a.-b', '-a', 'a-', '..', 'a/../b', 'a/.', '_a', 'a/_manifests', 'a b', 'a:b', 'a'.repeat(256)]) {
    assert.ok(!isValidRepositoryName(bad), bad);
  }
});

test('checkRepositoryName throws NAME_INVALID (400) naming the bad name', () => {
  assert.throws(
    () => checkRepositoryName('Bad/Name'),
    (err: unknown) => err instanceof RegistryError && err.registryCode === 'NAME_INVALID' && err.status === 400 && err.message.includes('"Bad/Name"'),
  );
});

test('tags follow [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
  for (const ok of ['latest', 'V1.0', '_x', '1', 'a'.repeat(128)]) assert.ok(isValidTag(ok), ok);
  for (const bad of ['', '.hidden', '-x', 'a/b', 'a:b', 'a'.repeat(129)]) assert.ok(!isValidTag(bad), bad);
});

test('parseDigest accepts sha256 and refuses others as DIGEST_INVALID with the reason', () => {
  const good = `sha256:${'ab'.repeat(32)}`;
  assert.equal(parseDigest(good, 'test'), good);
  const cases: [string | null, RegExp][] = [
    [null, /missing digest/],
    ['sha256:abc', /sha256/],
    [`sha256:${'AB'.repeat(32)}`, /lowercase hex/],
    [`sha512:${'a'.repeat(128)}`, /unsupported digest algorithm "sha512"/],
    ['garbage', /invalid digest/],
  ];
  for (const [value, msg] of cases) {
    assert.throws(
      () => parseDigest(value, 'test'),
      (err: unknown) => err instanceof RegistryError && err.registryCode === 'DIGEST_INVALID' && err.status === 400 && msg.test(err.message),
      String(value),
    );
  }
});

test('manifest references are a digest (has ":") or a valid tag', () => {
  const d = `sha256:${'0'.repeat(64)}`;
  assert.deepEqual(parseManifestReference(d), { kind: 'digest', digest: d });
  assert.deepEqual(parseManifestReference('v1'), { kind: 'tag', tag: 'v1' });
  assert.throws(() => parseManifestReference('.bad'), (err: unknown) => err instanceof RegistryError && err.registryCode === 'MANIFEST_INVALID');
  assert.throws(() => parseManifestReference('md5:abc'), (err: unknown) => err instanceof RegistryError && err.registryCode === 'DIGEST_INVALID');
});
