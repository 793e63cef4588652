/**
 * ImageService logic on a real temp data root without unpacking
 * (snapshotter: null): filters, history, Docker's rmi rules, prune and GC.
 * The same service with snapshots and a registry is exercised in
 * test/integration/image/service.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ImageService } from '../../../src/image/service.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { writeTestImage } from './fixtures.ts';

describe('ImageService (no snapshotter)', () => {
  let dir: string;
  let n = 0;
  const fresh = () => ImageService.open(join(dir, `root-${n++}`), { snapshotter: null });
  before(async () => {
    dir = await makeTempDir('berth-image-svc-unit-');
  });
  after(async () => {
    await removeTempDir(dir);
  });

  test('list: before/since by creation time, label and reference filters, newest first', async () => {
    const svc = await fresh();
    const ids: string[] = [];
    for (const [year, tag, labels] of [
      ['2020', 'old:1', { tier: 'base' }],
      ['2021', 'mid:1', { tier: 'app', extra: 'x' }],
      ['2022', 'new:1', {}],
    ] as const) {
      const img = await writeTestImage(svc.content, { created: `${year}-06-01T00:00:00Z`, labels, comment: year });
      ids.push((await svc.addImage({ manifest: img.manifest, tags: [tag] })).id);
    }
    assert.deepEqual((await svc.list()).map((i) => i.repoTags[0]), ['new:1', 'mid:1', 'old:1']);
    assert.deepEqual((await svc.list({ filters: { before: ['mid:1'] } })).map((i) => i.repoTags[0]), ['old:1']);
    assert.deepEqual((await svc.list({ filters: { since: ['mid:1'] } })).map((i) => i.repoTags[0]), ['new:1']);
    assert.deepEqual((await svc.list({ filters: { label: ['tier'] } })).map((i) => i.repoTags[0]), ['mid:1', 'old:1']);
    assert.deepEqual((await svc.list({ filters: { label: ['tier=app', 'extra'] } })).map((i) => i.repoTags[0]), ['mid:1']);
    assert.deepEqual((await svc.list({ filters: { reference: ['m*'] } })).map((i) => i.repoTags[0]), ['mid:1']);
    assert.deepEqual((await svc.list({ filters: { reference: ['*:1'] } })).length, 3);
    assert.equal((await svc.list())[0]!.created, Date.parse('2022-06-01T00:00:00Z') / 1000);
    await assert.rejects(svc.list({ filters: { before: ['nosuch'] } }), { code: 'BERTH_IMAGE_NOT_FOUND' });
    await assert.rejects(svc.list({ filters: { dangling: ['maybe'] } }), { code: 'BERTH_IMAGE_INVALID_FILTER', message: /expected true or false/ });
  });

  test('history: newest first, empty layers sized 0, the top entry carries ID and tags', async () => {
    const svc = await fresh();
    const img = await writeTestImage(svc.content, { layers: [{ a: 'a' }, { b: 'bb' }] });
    const { id } = await svc.addImage({ manifest: img.manifest, tags: ['h:1'] });
    const h = await svc.history('h:1');
    assert.equal(h.length, 2);
    assert.equal(h[0]!.id, id);
    assert.deepEqual(h[0]!.tags, ['h:1']);
    assert.equal(h[0]!.createdBy, 'layer 1');
    assert.equal(h[1]!.id, '<missing>');
    assert.equal(h[0]!.size, img.layers[1]!.size, 'without snapshots a layer is sized by its blob');
  });

  test('rmi by name removes the repository digest with its last tag, then deletes the image and its blobs', async () => {
    const svc = await fresh();
    const img = await writeTestImage(svc.content);
    const { id } = await svc.addImage({ manifest: img.manifest, tags: ['localhost:5000/app:1'], digests: [`localhost:5000/app@${img.manifest.digest}`] });
    const items = await svc.remove('localhost:5000/app:1');
    assert.deepEqual(items, [{ Untagged: 'localhost:5000/app:1' }, { Untagged: `localhost:5000/app@${img.manifest.digest}` }, { Deleted: id }]);
    for (const d of [id, img.manifest.digest, ...img.layers.map((l) => l.digest)]) assert.equal(await svc.content.has(d), false, d);
  });

  test('rmi of a name the image does not carry, or of an unknown image, is a 404; a bad name is a 400', async () => {
    const svc = await fresh();
    const img = await writeTestImage(svc.content);
    await svc.addImage({ manifest: img.manifest, tags: ['x:1'] });
    await assert.rejects(svc.remove('x:2'), { code: 'BERTH_IMAGE_NOT_FOUND', status: 404 });
    await assert.rejects(svc.remove('sha256:' + 'f'.repeat(64)), { code: 'BERTH_IMAGE_NOT_FOUND' });
    await assert.rejects(svc.remove('x:bad tag'), { status: 400 });
    assert.equal((await svc.inspect('x:1')).id, img.id);
  });

  test('addImage refuses an index, an unknown manifest and a config/layer count mismatch; nothing is recorded', async () => {
    const svc = await fresh();
    const img = await writeTestImage(svc.content);
    const idx = await svc.content.writeBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [img.manifest] })));
    await assert.rejects(svc.addImage({ manifest: { mediaType: 'application/vnd.oci.image.index.v1+json', ...idx }, tags: ['i'] }), { code: 'BERTH_IMAGE_NOT_A_MANIFEST' });
    const weird = await svc.content.writeBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-weird', config: img.manifestJson.config, layers: [] })));
    await assert.rejects(svc.addImage({ manifest: { mediaType: 'application/x-weird', ...weird } }), { code: 'BERTH_MANIFEST_UNKNOWN_MEDIA_TYPE' });
    const noLayers = await svc.content.writeBytes(Buffer.from(JSON.stringify({ ...img.manifestJson, layers: [] })));
    await assert.rejects(svc.addImage({ manifest: { mediaType: img.manifest.mediaType, ...noLayers } }), { code: 'BERTH_IMAGE_LAYER_MISMATCH' });
    await assert.rejects(svc.addImage({ manifest: { mediaType: img.manifest.mediaType, digest: `sha256:${'0'.repeat(64)}`, size: 1 } }), { code: 'BERTH_CONTENT_NOT_FOUND' });
    assert.deepEqual(await svc.list(), []);
  });

  test('gc keeps what images use and sweeps the rest; dry run reports without deleting', async () => {
    const svc = await fresh();
    const img = await writeTestImage(svc.content);
    await svc.addImage({ manifest: img.manifest, tags: ['kept'] });
    const stray = await svc.content.writeBytes(Buffer.from('stray'));
    assert.deepEqual((await svc.gc({ dryRun: true })).deletedBlobs, [stray]);
    assert.equal(await svc.content.has(stray.digest), true);
    const r = await svc.gc();
    assert.deepEqual(r.deletedBlobs, [stray]);
    assert.equal(await svc.content.has(stray.digest), false);
    assert.equal(await svc.content.has(img.layers[0]!.digest), true);
  });

  test('prune with until and label filters', async () => {
    const svc = await fresh();
    const old = await writeTestImage(svc.content, { created: '2001-01-01T00:00:00Z', comment: 'old', labels: { keep: 'no' } });
    const recent = await writeTestImage(svc.content, { created: new Date().toISOString(), comment: 'recent' });
    const labelled = await writeTestImage(svc.content, { created: '2001-01-01T00:00:00Z', comment: 'labelled', labels: { keep: 'yes' } });
    for (const i of [old, recent, labelled]) await svc.addImage({ manifest: i.manifest });
    const r = await svc.prune({ filters: { until: ['24h'], 'label!': ['keep=yes'] } });
    assert.deepEqual(r.deleted, [{ Deleted: old.id }]);
    assert.deepEqual((await svc.list()).map((i) => i.id).sort(), [recent.id, labelled.id].sort());
    await assert.rejects(svc.prune({ filters: { until: ['yesterday-ish'] } }), { code: 'BERTH_IMAGE_INVALID_FILTER' });
  });

  test('a parent image: hidden from the list unless all, cannot be removed while a child exists, pruned with its last child', async () => {
    const svc = await fresh();
    const parent = await writeTestImage(svc.content, { comment: 'parent' });
    const child = await writeTestImage(svc.content, { layers: [{ hello: 'world\n' }, { child: 'c' }], comment: 'child' });
    await svc.addImage({ manifest: parent.manifest });
    await svc.addImage({ manifest: child.manifest, tags: ['child:1'], parent: parent.id });
    assert.deepEqual((await svc.list()).map((i) => i.id), [child.id]);
    assert.deepEqual((await svc.list({ all: true })).map((i) => i.id).sort(), [child.id, parent.id].sort());
    assert.equal((await svc.inspect('child:1')).parent, parent.id);
    await assert.rejects(svc.remove(parent.id, { force: true }), { code: 'BERTH_IMAGE_CONFLICT', message: /image has dependent child images/ });
    const items = await svc.remove('child:1');
    assert.deepEqual(items, [{ Untagged: 'child:1' }, { Deleted: child.id }, { Deleted: parent.id }]);
    assert.deepEqual(await svc.list({ all: true }), []);
  });
});
