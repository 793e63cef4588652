import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest, parseImageConfig, assertImageManifest, MAX_MANIFEST_BYTES } from '../../../src/image/manifest.ts';
import { MediaTypes } from '../../../src/oci/image-spec.ts';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, size = 10, extra: object = {}) => ({ mediaType, digest: d(c), size, ...extra });

const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaTypes.dockerManifest,
  config: desc(MediaTypes.dockerConfig, 'a', 1469),
  layers: [desc(MediaTypes.dockerLayerTarGzip, 'b', 2_000_000), desc(MediaTypes.dockerLayerTarGzip, 'c', 32)],
};
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: desc(MediaTypes.ociConfig, 'a'),
  layers: [desc(MediaTypes.ociLayerTarZstd, 'b'), desc(MediaTypes.ociLayerTar, 'c')],
  annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
};
const ociIndex = {
  schemaVersion: 2,
  mediaType: MediaTypes.ociIndex,
  manifests: [
    desc(MediaTypes.ociManifest, 'd', 500, { platform: { os: 'linux', architecture: 'amd64' } }),
    desc(MediaTypes.ociManifest, 'e', 500, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }),
  ],
};
const dockerList = { ...ociIndex, mediaType: MediaTypes.dockerManifestList, manifests: ociIndex.manifests.map((m) => ({ ...m, mediaType: MediaTypes.dockerManifest })) };

function code(fn: () => unknown, expected: string, message?: RegExp): void {
  assert.throws(fn, (err: { code: string; status: number; message: string }) => {
    assert.equal(err.code, expected, err.message);
    assert.equal(err.status, 400);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('parseManifest: the four media types', () => {
  test('Docker manifest v2 schema 2', () => {
    const p = parseManifest(JSON.stringify(dockerManifest), MediaTypes.dockerManifest);
    assert.equal(p.kind, 'manifest');
    assert.equal(p.mediaType, MediaTypes.dockerManifest);
    if (p.kind !== 'manifest') return;
    assert.equal(p.manifest.layers.length, 2);
    assert.equal(p.manifest.config.digest, d('a'));
    assertImageManifest(p.manifest);
  });

  test('OCI image manifest with zstd and uncompressed layers', () => {
    const p = parseManifest(Buffer.from(JSON.stringify(ociManifest)));
    assert.equal(p.kind, 'manifest');
    if (p.kind === 'manifest') assertImageManifest(p.manifest);
  });

  test('OCI image index and Docker manifest list', () => {
    const a = parseManifest(JSON.stringify(ociIndex));
    assert.equal(a.kind, 'index');
    if (a.kind === 'index') assert.equal(a.index.manifests[1]!.platform!.variant, 'v7');
    const b = parseManifest(JSON.stringify(dockerList), `${MediaTypes.dockerManifestList}; charset=utf-8`);
    assert.equal(b.kind, 'index');
    assert.equal(b.mediaType, MediaTypes.dockerManifestList);
  });

  test('an OCI document without mediaType is recognised by shape, or from the Content-Type', () => {
    const { mediaType: _a, ...m } = ociManifest;
    assert.equal(parseManifest(JSON.stringify(m)).mediaType, MediaTypes.ociManifest);
    const { mediaType: _b, ...i } = ociIndex;
    assert.equal(parseManifest(JSON.stringify(i)).mediaType, MediaTypes.ociIndex);
    assert.equal(parseManifest(JSON.stringify(m), MediaTypes.ociManifest).kind, 'manifest');
    assert.equal(parseManifest(JSON.stringify(dockerManifest), 'application/json').mediaType, MediaTypes.dockerManifest);
  });
});

describe('parseManifest: bad input is refused with a code and the field named', () => {
  test('malformed JSON', () => {
    code(() => parseManifest('{"schemaVersion": 2,'), 'BERTH_MANIFEST_INVALID_JSON', /not valid JSON/);
    code(() => parseManifest('[1,2]'), 'BERTH_MANIFEST_INVALID_JSON', /JSON object, got an array/);
    code(() => parseManifest('null'), 'BERTH_MANIFEST_INVALID_JSON');
    code(() => parseManifest(''), 'BERTH_MANIFEST_INVALID_JSON');
  });

  test('unknown media type', () => {
    code(() => parseManifest(JSON.stringify({ ...dockerManifest, mediaType: 'application/vnd.example.thing+json' })), 'BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE', /"application\/vnd\.example\.thing\+json"/);
    code(() => parseManifest(JSON.stringify({ schemaVersion: 2 })), 'BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE');
    code(() => parseManifest(JSON.stringify({ schemaVersion: 2, config: desc(MediaTypes.ociConfig, 'a') }), 'application/x-whatever'), 'BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE');
  });

  test('mediaType that disagrees with the Content-Type it was served with', () => {
    code(() => parseManifest(JSON.stringify(dockerManifest), MediaTypes.ociManifest), 'BERTH_MANIFEST_INVALID', /served as/);
  });

  test('schemaVersion other than 2; schema 1 named as such', () => {
    code(() => parseManifest(JSON.stringify({ ...dockerManifest, schemaVersion: 3 })), 'BERTH_MANIFEST_UNSUPPORTED_SCHEMA', /schemaVersion is 3/);
    code(() => parseManifest(JSON.stringify({ ...dockerManifest, schemaVersion: '2' })), 'BERTH_MANIFEST_UNSUPPORTED_SCHEMA');
    code(() => parseManifest(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] })), 'BERTH_MANIFEST_UNSUPPORTED_SCHEMA', /schema 1/);
  });

  test('descriptor fields', () => {
    const withLayer = (layer: unknown) => JSON.stringify({ ...dockerManifest, layers: [dockerManifest.layers[0], layer] });
    code(() => parseManifest(withLayer({ ...dockerManifest.layers[0], digest: 'sha256:abc' })), 'BERTH_MANIFEST_INVALID', /layers\[1\]\.digest/);
    code(() => parseManifest(withLayer({ ...dockerManifest.layers[0], digest: 'sha512:' + 'a'.repeat(128) })), 'BERTH_MANIFEST_INVALID', /unsupported algorithm "sha512"/);
    code(() => parseManifest(withLayer({ ...dockerManifest.layers[0], size: -1 })), 'BERTH_MANIFEST_INVALID', /layers\[1\]\.size/);
    code(() => parseManifest(withLayer({ ...dockerManifest.layers[0], size: '12' })), 'BERTH_MANIFEST_INVALID', /layers\[1\]\.size/);
    code(() => parseManifest(withLayer({ digest: d('b'), size: 1 })), 'BERTH_MANIFEST_INVALID', /layers\[1\]\.mediaType/);
    code(() => parseManifest(withLayer('not an object')), 'BERTH_MANIFEST_INVALID', /layers\[1\]/);
    code(() => parseManifest(JSON.stringify({ ...dockerManifest, config: undefined })), 'BERTH_MANIFEST_INVALID', /config/);
    code(() => parseManifest(JSON.stringify({ ...dockerManifest, layers: {} })), 'BERTH_MANIFEST_INVALID', /layers/);
    code(() => parseManifest(JSON.stringify({ ...ociIndex, manifests: [{ ...ociIndex.manifests[0], platform: { os: 'linux' } }] })), 'BERTH_MANIFEST_INVALID', /manifests\[0\]\.platform\.architecture/);
    code(() => parseManifest(JSON.stringify({ ...ociManifest, annotations: { a: 1 } })), 'BERTH_MANIFEST_INVALID', /annotations/);
  });

  test('a manifest larger than the limit', () => {
    const big = JSON.stringify({ ...ociManifest, annotations: { pad: 'x'.repeat(MAX_MANIFEST_BYTES) } });
    code(() => parseManifest(big), 'BERTH_MANIFEST_TOO_LARGE', /larger than the 4194304-byte limit/);
  });

  test('an artifact manifest is a manifest but not an image', () => {
    const p = parseManifest(JSON.stringify({ ...ociManifest, config: desc('application/vnd.cncf.helm.config.v1+json', 'a') }));
    assert.equal(p.kind, 'manifest');
    if (p.kind === 'manifest') code(() => assertImageManifest(p.manifest), 'BERTH_MANIFEST_NOT_AN_IMAGE', /helm/);
    const q = parseManifest(JSON.stringify({ ...ociManifest, layers: [desc('application/x-unknown-layer', 'b')] }));
    if (q.kind === 'manifest') code(() => assertImageManifest(q.manifest), 'BERTH_MANIFEST_UNKNOWN_LAYER_MEDIA_TYPE', /layers\[0\]/);
  });
});

describe('parseImageConfig', () => {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} } },
    rootfs: { type: 'layers', diff_ids: [d('1')] },
    history: [{ created_by: 'ADD rootfs' }, { created_by: 'CMD ["sh"]', empty_layer: true }],
  };

  test('accepts a Docker/OCI config', () => {
    const c = parseImageConfig(JSON.stringify(config));
    assert.deepEqual(c.rootfs.diff_ids, [d('1')]);
    assert.deepEqual(c.config?.Cmd, ['sh']);
  });

  test('refuses configs with missing or wrong fields, naming them', () => {
    const bad = (over: object, field: RegExp) =>
      assert.throws(() => parseImageConfig(JSON.stringify({ ...config, ...over })), (err: { code: string; message: string }) => {
        assert.equal(err.code, 'BERTH_CONFIG_INVALID');
        assert.match(err.message, field);
        return true;
      });
    bad({ architecture: undefined }, /architecture/);
    bad({ os: 7 }, /os/);
    bad({ rootfs: { type: 'tarball', diff_ids: [] } }, /rootfs\.type/);
    bad({ rootfs: { type: 'layers', diff_ids: ['nope'] } }, /rootfs\.diff_ids\[0\]/);
    bad({ config: { Cmd: 'sh' } }, /config\.Cmd/);
    bad({ config: { Labels: { a: 1 } } }, /config\.Labels/);
    bad({ history: {} }, /history/);
    assert.throws(() => parseImageConfig('{nope'), { code: 'BERTH_CONFIG_INVALID_JSON' });
  });
});
