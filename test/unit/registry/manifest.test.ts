import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsMediaType, bareMediaType, parseManifest } from '../../../src/registry/manifest.ts';
import { RegistryError } from '../../../src/registry/errors.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function bytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

test('an OCI image manifest yields its blobs, subject and artifactType (config media type fallback)', () => {
  const m = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.example.config', digest: D('a'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('b'), size: 10 }],
    subject: { mediaType: OCI_MANIFEST, digest: D('c'), size: 100 },
    annotations: { k: 'v' },
  };
  const p = parseManifest(bytes(m), OCI_MANIFEST);
  assert.equal(p.kind, 'image');
  assert.equal(p.mediaType, OCI_MANIFEST);
  assert.deepEqual(p.blobs.map((b) => b.digest), [D('a'), D('b')]);
  assert.equal(p.subject?.digest, D('c'));
  assert.equal(p.artifactType, 'application/vnd.example.config');
  assert.deepEqual(p.annotations, { k: 'v' });
  assert.equal(parseManifest(bytes({ ...m, artifactType: 'application/x-art' }), OCI_MANIFEST).artifactType, 'application/x-art');
});

test('foreign (non-distributable) layers with urls are not required to be in the registry', () => {
  const p = parseManifest(
    bytes({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D('a'), size: 2 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: D('b'), size: 10, urls: ['https://example.invalid/l'] }],
    }),
    undefined,
  );
  assert.deepEqual(p.blobs.map((b) => b.digest), [D('a')]);
});

test('an index yields its manifests; without mediaType the shape decides', () => {
  const idx = { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: D('d'), size: 5, platform: { os: 'linux', architecture: 'arm64' } }] };
  const p = parseManifest(bytes(idx), undefined);
  assert.equal(p.kind, 'index');
  assert.equal(p.mediaType, OCI_INDEX);
  assert.deepEqual(p.manifests.map((m) => m.digest), [D('d')]);
  assert.equal(p.artifactType, undefined);
});

test('Content-Type parameters are ignored (the spec says so)', () => {
  assert.equal(bareMediaType(`${OCI_MANIFEST}; charset=utf-8`), OCI_MANIFEST);
  const p = parseManifest(bytes({ schemaVersion: 2, config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [] }), `${OCI_MANIFEST}; q=1`);
  assert.equal(p.mediaType, OCI_MANIFEST);
});

test('invalid manifests throw MANIFEST_INVALID with what is wrong', () => {
  const cases: [string, Buffer, string | undefined, RegExp][] = [
    ['bad json', Buffer.from('{'), OCI_MANIFEST, /not valid JSON/],
    ['schema 1', bytes({ schemaVersion: 1 }), undefined, /schema 1/],
    ['schema 3', bytes({ schemaVersion: 3, layers: [] }), OCI_MANIFEST, /schemaVersion/],
    ['no shape', bytes({ schemaVersion: 2 }), undefined, /cannot tell/],
    ['unknown type', bytes({ schemaVersion: 2, mediaType: 'text/plain' }), 'text/plain', /unsupported manifest media type "text\/plain"/],
    ['config missing', bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }), OCI_MANIFEST, /"config"/],
    ['layer size float', bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [{ mediaType: 'x', digest: D('b'), size: 1.5 }] }), OCI_MANIFEST, /layers\[0\]\.size/],
    ['annotations not strings', bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [], annotations: { a: 1 } }), OCI_MANIFEST, /annotations/],
    ['docker v2 without layers', bytes({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [] }), undefined, /at least one layer/],
    ['index manifests not array', bytes({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: {} }), OCI_INDEX, /"manifests"/],
  ];
  for (const [what, b, ct, msg] of cases) {
    assert.throws(
      () => parseManifest(b, ct),
      (err: unknown) => err instanceof RegistryError && err.registryCode === 'MANIFEST_INVALID' && msg.test(err.message),
      what,
    );
  }
});

test('Accept negotiation: absent or wildcard accepts anything; lists are split and parameters dropped', () => {
  assert.ok(acceptsMediaType(undefined, OCI_INDEX));
  assert.ok(acceptsMediaType('*/*', OCI_INDEX));
  assert.ok(acceptsMediaType([`${OCI_MANIFEST}; q=0.5, ${OCI_INDEX}`], OCI_INDEX));
  assert.ok(!acceptsMediaType('application/vnd.docker.distribution.manifest.v2+json', OCI_INDEX));
});
