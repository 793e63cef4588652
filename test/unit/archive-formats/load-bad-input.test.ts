import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { writeTar, type TarWriteEntry, type TarEntryType } from '../../../src/archive/tar.ts';
import { loadImages } from '../../../src/image/archive/load.ts';
import { importRootfs } from '../../../src/image/archive/import.ts';
import { openTestStore } from '../../integration/archive/test-store.ts';

/**
 * Bad archives for `load` (and bad tarballs for `import`): each is refused
 * with a clear error code and message, and the store is left exactly as it
 * was — no tag, no blob, no scratch files.
 */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Member {
  name: string;
  type?: TarEntryType;
  body?: Buffer;
  linkname?: string;
}

async function tarOf(members: Member[]): Promise<Buffer> {
  const entries: TarWriteEntry[] = members.map((m) => ({
    header: {
      name: m.name,
      type: m.type ?? 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: m.body?.length ?? 0,
      mtime: 0,
      linkname: m.linkname ?? '',
      devmajor: 0,
      devminor: 0,
    },
    body: m.body ? (async function* () { yield m.body!; })() : undefined,
  }));
  const chunks: Buffer[] = [];
  for await (const c of writeTar(entries)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A small valid image: one layer with one file, plus its config. */
async function sampleImage() {
  const layer = await tarOf([{ name: 'hello.txt', body: Buffer.from('hello\n') }]);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }));
  return { layer, config, layerHex: sha(layer), configHex: sha(config) };
}

async function dockerArchive(overrides: { manifest?: unknown; members?: Member[]; extra?: Member[] } = {}): Promise<Buffer> {
  const { layer, config, layerHex, configHex } = await sampleImage();
  const manifest = overrides.manifest ?? [{ Config: `${configHex}.json`, RepoTags: ['bad/input:test'], Layers: [`${layerHex}/layer.tar`] }];
  const members = overrides.members ?? [
    { name: `${layerHex}/layer.tar`, body: layer },
    { name: `${configHex}.json`, body: config },
  ];
  return tarOf([...members, ...(overrides.extra ?? []), { name: 'manifest.json', body: Buffer.from(JSON.stringify(manifest)) }]);
}

describe('load refuses bad archives and changes nothing', () => {
  let work = '';
  let n = 0;
  before(async () => {
    work = await makeTempDir('berth-load-bad-');
  });
  after(async () => {
    await removeTempDir(work);
  });

  async function expectRefused(archive: Buffer, code: string | RegExp, message?: RegExp, options: Parameters<typeof loadImages>[2] = {}) {
    const root = join(work, `store-${n++}`);
    const store = await openTestStore(root);
    await assert.rejects(loadImages(store, Readable.from([archive]), options), (err: any) => {
      if (typeof code === 'string') assert.equal(err.code, code, err.message);
      else assert.match(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      assert.equal(err.status, 400);
      return true;
    });
    assert.equal(store.tags.size, 0, 'no tag registered');
    assert.equal(store.images.size, 0, 'no image registered');
    const blobs: string[] = [];
    for await (const b of store.content.list()) blobs.push(b.digest);
    assert.deepEqual(blobs, [], 'no blob committed');
    assert.deepEqual(await readdir(join(root, 'ingest')), [], 'no scratch left behind');
  }

  test('a valid sample archive loads (the baseline the bad cases break)', async () => {
    const store = await openTestStore(join(work, 'good'));
    const result = await loadImages(store, Readable.from([await dockerArchive()]));
    assert.deepEqual(result.loaded, ['bad/input:test']);
  });

  test('docker-archive layers may be gzip or zstd compressed; they are stored as they are', async () => {
    const { layer, config, layerHex, configHex } = await sampleImage();
    const { zstdCompressSync } = await import('node:zlib');
    for (const [label, bytes, mediaType] of [
      ['gzip', gzipSync(layer), 'application/vnd.oci.image.layer.v1.tar+gzip'],
      ['zstd', zstdCompressSync(layer), 'application/vnd.oci.image.layer.v1.tar+zstd'],
    ] as const) {
      const store = await openTestStore(join(work, `compressed-${label}`));
      const archive = await dockerArchive({ members: [{ name: `${layerHex}/layer.tar`, body: bytes }, { name: `${configHex}.json`, body: config }] });
      const result = await loadImages(store, Readable.from([gzipSync(archive)]));
      assert.deepEqual(result.loaded, ['bad/input:test'], label);
      const manifest = JSON.parse((await store.content.readBytes(store.images.get(`sha256:${configHex}`)!.digest)).toString());
      assert.equal(manifest.layers[0].mediaType, mediaType, label);
      assert.equal(manifest.layers[0].digest, `sha256:${sha(bytes)}`, label);
    }
  });

  test('an OCI layout with a multi-platform index loads the host platform, or says none fits', async () => {
    const { layer, config, layerHex, configHex } = await sampleImage();
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layer.length }],
    }));
    const mHex = sha(manifest);
    const entry = (architecture: string, digest: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, platform: { os: 'linux', architecture } });
    const layout = async (archs: string[]) => {
      // Only the amd64 entry's blobs are present: a loader that touched another platform would fail.
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: archs.map((a) => entry(a, a === 'amd64' ? `sha256:${mHex}` : `sha256:${'e'.repeat(64)}`)) }));
      return tarOf([
        { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
        { name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(index)}`, size: index.length, annotations: { 'io.containerd.image.name': 'docker.io/multi/arch:1' } }] })) },
        { name: `blobs/sha256/${sha(index)}`, body: index },
        { name: `blobs/sha256/${mHex}`, body: manifest },
        { name: `blobs/sha256/${configHex}`, body: config },
        { name: `blobs/sha256/${layerHex}`, body: layer },
      ]);
    };
    const store = await openTestStore(join(work, 'multi-platform'));
    const result = await loadImages(store, Readable.from([await layout(['arm64', 'amd64', 's390x'])]));
    assert.deepEqual(result.images, [{ id: `sha256:${configHex}`, tags: ['docker.io/multi/arch:1'] }]);
    await expectRefused(await layout(['arm64', 's390x']), 'BERTH_LOAD_NO_MATCHING_PLATFORM', /no image for linux\/amd64 .*linux\/arm64, linux\/s390x/);
  });

  test('bytes that are not a tar', async () => {
    await expectRefused(randomBytes(4096), /^BERTH_ARCHIVE_(CORRUPT|MALFORMED_TAR)$/, /tar/);
  });

  test('an empty stream', async () => {
    await expectRefused(Buffer.alloc(0), 'BERTH_ARCHIVE_EMPTY');
  });

  test('a truncated archive', async () => {
    const good = await dockerArchive();
    await expectRefused(good.subarray(0, 1024 + 100), /^BERTH_ARCHIVE_(CORRUPT|MALFORMED_TAR)$/, /truncated/);
  });

  test('a corrupt gzip-compressed archive', async () => {
    const gz = gzipSync(await dockerArchive());
    gz[gz.length - 12] ^= 0xff;
    await expectRefused(gz, /^BERTH_ARCHIVE_(CORRUPT|MALFORMED_TAR)$/);
  });

  test('manifest.json pointing at a missing file', async () => {
    const { configHex } = await sampleImage();
    await expectRefused(
      await dockerArchive({ manifest: [{ Config: `${configHex}.json`, RepoTags: null, Layers: ['nothere/layer.tar'] }] }),
      'BERTH_ARCHIVE_MISSING_FILE',
      /manifest\.json\[0\]\.Layers\[0\] refers to "nothere\/layer\.tar"/,
    );
  });

  test('a layer whose content does not match the config diff ID', async () => {
    const { config, layerHex, configHex } = await sampleImage();
    const other = await tarOf([{ name: 'hello.txt', body: Buffer.from('tampered\n') }]);
    await expectRefused(
      await dockerArchive({ members: [{ name: `${layerHex}/layer.tar`, body: other }, { name: `${configHex}.json`, body: config }] }),
      'BERTH_LOAD_DIGEST_MISMATCH',
      /Layers\[0\].*diff ID/,
    );
  });

  test('a config whose file name is not its digest', async () => {
    const { layer, config, layerHex, configHex } = await sampleImage();
    const tampered = Buffer.from(config.toString().replace('amd64', 'arm64'));
    await expectRefused(
      await dockerArchive({ members: [{ name: `${layerHex}/layer.tar`, body: layer }, { name: `${configHex}.json`, body: tampered }] }),
      'BERTH_LOAD_DIGEST_MISMATCH',
      new RegExp(`${configHex}\\.json`),
    );
  });

  test('an OCI layout blob that does not match its digest, or its size', async () => {
    const { layer, config, layerHex, configHex } = await sampleImage();
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layer.length }],
    }));
    const layout = (blobs: Member[], size = manifest.length) => tarOf([
      { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size }] })) },
      ...blobs,
    ]);
    const good = [
      { name: `blobs/sha256/${sha(manifest)}`, body: manifest },
      { name: `blobs/sha256/${configHex}`, body: config },
    ];
    // Baseline: it loads.
    const ok = await openTestStore(join(work, 'oci-good'));
    await loadImages(ok, Readable.from([await layout([...good, { name: `blobs/sha256/${layerHex}`, body: layer }])]));
    assert.equal(ok.images.size, 1);

    const swapped = await tarOf([{ name: 'hello.txt', body: Buffer.from('swapped\n') }]);
    await expectRefused(await layout([...good, { name: `blobs/sha256/${layerHex}`, body: swapped }]), 'BERTH_LOAD_DIGEST_MISMATCH', /layers\[0\]/);
    await expectRefused(await layout([...good, { name: `blobs/sha256/${layerHex}`, body: layer }], manifest.length + 1), 'BERTH_LOAD_SIZE_MISMATCH');
  });

  test('entries that climb out with ../ or are absolute', async () => {
    await expectRefused(await dockerArchive({ extra: [{ name: '../evil', body: Buffer.from('x') }] }), 'BERTH_ARCHIVE_PATH_ESCAPE', /"\.\.\/evil"/);
    await expectRefused(await dockerArchive({ extra: [{ name: 'a/../../evil', body: Buffer.from('x') }] }), 'BERTH_ARCHIVE_PATH_ESCAPE');
    await expectRefused(await dockerArchive({ extra: [{ name: '/etc/evil', body: Buffer.from('x') }] }), 'BERTH_ARCHIVE_PATH_ESCAPE', /absolute/);
  });

  test('manifest.json naming a path outside the archive', async () => {
    const { layerHex } = await sampleImage();
    await expectRefused(await dockerArchive({ manifest: [{ Config: '../../etc/passwd', RepoTags: null, Layers: [`${layerHex}/layer.tar`] }] }), 'BERTH_ARCHIVE_PATH_ESCAPE', /Config/);
  });

  test('symlink entries pointing out of the archive; links inside it are followed', async () => {
    const { layer, config, layerHex, configHex } = await sampleImage();
    const base = [{ name: `blobs/sha256/${layerHex}`, body: layer }, { name: `${configHex}.json`, body: config }];
    await expectRefused(
      await dockerArchive({ members: [...base, { name: `${layerHex}/layer.tar`, type: 'symlink', linkname: '../../../etc/passwd' }] }),
      'BERTH_ARCHIVE_PATH_ESCAPE',
      /outside the archive/,
    );
    await expectRefused(
      await dockerArchive({ members: [...base, { name: `${layerHex}/layer.tar`, type: 'symlink', linkname: '/etc/passwd' }] }),
      'BERTH_ARCHIVE_PATH_ESCAPE',
      /absolute/,
    );
    await expectRefused(
      await dockerArchive({ members: [...base, { name: `${layerHex}/layer.tar`, type: 'link', linkname: '../outside' }] }),
      'BERTH_ARCHIVE_PATH_ESCAPE',
    );
    // docker 25+ writes <id>/layer.tar as a symlink to ../blobs/sha256/<hex>: that loads.
    const store = await openTestStore(join(work, 'symlink-inside'));
    const result = await loadImages(store, Readable.from([await dockerArchive({ members: [...base, { name: `${layerHex}/layer.tar`, type: 'symlink', linkname: `../blobs/sha256/${layerHex}` }] })]));
    assert.deepEqual(result.loaded, ['bad/input:test']);
  });

  test('device nodes and fifos in the archive', async () => {
    await expectRefused(await dockerArchive({ extra: [{ name: 'dev-null', type: 'char' }] }), 'BERTH_ARCHIVE_UNSUPPORTED_ENTRY');
    await expectRefused(await dockerArchive({ extra: [{ name: 'pipe', type: 'fifo' }] }), 'BERTH_ARCHIVE_UNSUPPORTED_ENTRY');
  });

  test('a huge manifest.json', async () => {
    const huge = Buffer.alloc(17 * 1024 * 1024, 0x20);
    huge.write('[]', 0);
    await expectRefused(await tarOf([{ name: 'manifest.json', body: huge }]), 'BERTH_ARCHIVE_JSON_TOO_LARGE', /manifest\.json is 17825792 bytes/);
    await expectRefused(await dockerArchive(), 'BERTH_ARCHIVE_JSON_TOO_LARGE', undefined, { maxJsonBytes: 64 });
  });

  test('malformed manifest.json', async () => {
    await expectRefused(await tarOf([{ name: 'manifest.json', body: Buffer.from('[{"Config": ') }]), 'BERTH_ARCHIVE_MALFORMED_JSON', /manifest\.json is not valid JSON/);
    await expectRefused(await dockerArchive({ manifest: { Config: 'x' } }), 'BERTH_LOAD_MALFORMED_MANIFEST', /JSON array/);
    await expectRefused(await dockerArchive({ manifest: [] }), 'BERTH_LOAD_MALFORMED_MANIFEST', /no images/);
    const { configHex, layerHex } = await sampleImage();
    await expectRefused(await dockerArchive({ manifest: [{ Config: `${configHex}.json`, Layers: 'x' }] }), 'BERTH_LOAD_MALFORMED_MANIFEST', /Layers/);
    await expectRefused(await dockerArchive({ manifest: [{ Config: 7, Layers: [] }] }), 'BERTH_LOAD_MALFORMED_MANIFEST', /Config/);
    await expectRefused(await dockerArchive({ manifest: [{ Config: `${configHex}.json`, Layers: [] }] }), 'BERTH_LOAD_MALFORMED_MANIFEST', /0 layers but its config has 1 diff_ids/);
    await expectRefused(
      await dockerArchive({ manifest: [{ Config: `${configHex}.json`, RepoTags: ['Not/Valid:Tag'], Layers: [`${layerHex}/layer.tar`] }] }),
      'BERTH_LOAD_INVALID_TAG',
      /Not\/Valid:Tag/,
    );
  });

  test('a second bad image keeps the first from being registered', async () => {
    const { configHex, layerHex } = await sampleImage();
    await expectRefused(
      await dockerArchive({
        manifest: [
          { Config: `${configHex}.json`, RepoTags: ['first:ok'], Layers: [`${layerHex}/layer.tar`] },
          { Config: `${configHex}.json`, RepoTags: ['second:bad'], Layers: ['missing/layer.tar'] },
        ],
      }),
      /^BERTH_(ARCHIVE_MISSING_FILE|LOAD_MALFORMED_MANIFEST)$/,
    );
  });

  test('an archive that is neither docker-archive nor OCI layout', async () => {
    await expectRefused(await tarOf([{ name: 'hello.txt', body: Buffer.from('hi') }]), 'BERTH_LOAD_UNKNOWN_FORMAT');
    await expectRefused(await tarOf([{ name: 'repositories', body: Buffer.from('{}') }]), 'BERTH_LOAD_UNSUPPORTED_FORMAT', /pre-1\.10/);
  });
});

describe('import refuses bad tarballs and registers nothing', () => {
  let work = '';
  before(async () => {
    work = await makeTempDir('berth-import-bad-');
  });
  after(async () => {
    await removeTempDir(work);
  });

  async function expectRefused(input: Buffer, options: Parameters<typeof importRootfs>[2], code: string | RegExp, message?: RegExp) {
    const store = await openTestStore(join(work, `s-${Math.random().toString(16).slice(2)}`));
    await assert.rejects(importRootfs(store, Readable.from([input]), options), (err: any) => {
      if (typeof code === 'string') assert.equal(err.code, code, err.message);
      else assert.match(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      return true;
    });
    assert.equal(store.images.size, 0);
    assert.equal(store.tags.size, 0);
  }

  test('not a tar', async () => {
    await expectRefused(randomBytes(2048), {}, /^BERTH_(ARCHIVE_CORRUPT|IMPORT_MALFORMED_TAR)$/);
  });
  test('an empty tarball', async () => {
    await expectRefused(Buffer.alloc(1024), {}, 'BERTH_IMPORT_EMPTY');
  });
  test('an entry climbing out of the rootfs', async () => {
    await expectRefused(await tarOf([{ name: 'ok', body: Buffer.from('x') }, { name: '../../etc/cron.d/evil', body: Buffer.from('x') }]), {}, 'BERTH_IMPORT_PATH_ESCAPE', /cron\.d/);
  });
  test('a bad --change or reference, before reading any input', async () => {
    const tar = await tarOf([{ name: 'ok', body: Buffer.from('x') }]);
    await expectRefused(tar, { changes: ['RUN rm -rf /'] }, 'BERTH_IMPORT_INVALID_CHANGE', /RUN is not supported/);
    await expectRefused(tar, { changes: ['EXPOSE 99999'] }, 'BERTH_IMPORT_INVALID_CHANGE', /port/);
    await expectRefused(tar, { ref: 'not a name' }, /^BERTH_REFERENCE_/);
    await expectRefused(tar, { ref: `busybox@sha256:${'a'.repeat(64)}` }, 'BERTH_IMPORT_INVALID_REFERENCE', /digest reference/);
  });
});
