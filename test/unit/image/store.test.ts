import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../../../src/image/store.ts';
import type { Descriptor } from '../../../src/oci/image-spec.ts';
import type { Digest } from '../../../src/content/types.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

const id = (c: string) => `sha256:${c}${'0'.repeat(64 - c.length)}` as Digest;
const manifest = (c: string): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: id(c), size: 100 });

describe('ImageStore', () => {
  let dir: string;
  let n = 0;
  const fresh = () => ImageStore.open(join(dir, `db-${n++}`), { ociIndexPath: join(dir, `index-${n}.json`) });
  before(async () => {
    dir = await makeTempDir('berth-image-store-');
  });
  after(async () => {
    await removeTempDir(dir);
  });

  test('adds an image with normalised tags and finds it by every name Docker accepts', async () => {
    const store = await fresh();
    const a = id('abc123');
    await store.add({ id: a, manifest: manifest('d1'), tags: ['busybox'], digests: [`busybox@${id('d1')}`] });
    const rec = store.get(a)!;
    assert.deepEqual(rec.repoTags, ['docker.io/library/busybox:latest']);
    assert.deepEqual(rec.repoDigests, [`docker.io/library/busybox@${id('d1')}`]);
    for (const name of [
      'busybox',
      'busybox:latest',
      'docker.io/library/busybox:latest',
      'library/busybox',
      `busybox@${id('d1')}`,
      a,
      a.slice(7),
      'abc123',
      'abc',
      'sha256:abc1',
    ]) {
      assert.equal(store.resolve(name).id, a, name);
    }
  });

  test('not found and ambiguous prefixes are clear errors; a bad name says why', async () => {
    const store = await fresh();
    await store.add({ id: id('aaa1'), manifest: manifest('d1') });
    await store.add({ id: id('aaa2'), manifest: manifest('d2') });
    assert.throws(() => store.resolve('nosuch:tag'), { code: 'BERTH_IMAGE_NOT_FOUND', status: 404, message: 'No such image: nosuch:tag' });
    assert.throws(() => store.resolve('aaa'), { code: 'BERTH_IMAGE_AMBIGUOUS', status: 400 });
    assert.equal(store.resolve('aaa1').id, id('aaa1'));
    assert.throws(() => store.resolve('bbb'), { code: 'BERTH_IMAGE_NOT_FOUND' });
    assert.throws(() => store.resolve('Bad!Name'), { code: 'BERTH_REFERENCE_INVALID_NAME' });
    assert.throws(() => store.resolve(''), { code: 'BERTH_IMAGE_NOT_FOUND' });
  });

  test('a name wins over an ID prefix that happens to look the same', async () => {
    const store = await fresh();
    await store.add({ id: id('cafe'), manifest: manifest('d1') });
    await store.add({ id: id('beef'), manifest: manifest('d2'), tags: ['cafe'] });
    assert.equal(store.resolve('cafe').id, id('beef'));
    assert.equal(store.resolve('sha256:cafe').id, id('cafe'));
  });

  test('name@digest finds an image of that repository by manifest digest', async () => {
    const store = await fresh();
    await store.add({ id: id('1'), manifest: manifest('d1'), index: manifest('c1'), tags: ['localhost:5000/a:v1'] });
    assert.equal(store.resolve(`localhost:5000/a@${id('c1')}`).id, id('1'));
    assert.equal(store.resolve(`localhost:5000/a@${id('d1')}`).id, id('1'));
    assert.throws(() => store.resolve(`localhost:5000/other@${id('d1')}`), { code: 'BERTH_IMAGE_NOT_FOUND' });
  });

  test('tagging moves a tag from one image to another; untag removes it', async () => {
    const store = await fresh();
    await store.add({ id: id('1'), manifest: manifest('d1'), tags: ['app:v1'] });
    await store.add({ id: id('2'), manifest: manifest('d2') });
    assert.equal(await store.tag(id('2'), 'app:v1'), 'docker.io/library/app:v1');
    assert.deepEqual(store.get(id('1'))!.repoTags, []);
    assert.deepEqual(store.get(id('2'))!.repoTags, ['docker.io/library/app:v1']);
    assert.ok(store.get(id('2'))!.lastTagTime);
    assert.equal(await store.untag('docker.io/library/app:v1'), id('2'));
    assert.equal(await store.untag('docker.io/library/app:v1'), undefined);
    assert.deepEqual(store.get(id('2'))!.repoTags, []);
  });

  test('bad tags are refused and change nothing', async () => {
    const store = await fresh();
    await store.add({ id: id('1'), manifest: manifest('d1'), tags: ['app:v1'] });
    await assert.rejects(store.tag(id('1'), 'app:bad tag'), { code: 'BERTH_REFERENCE_INVALID_TAG' });
    await assert.rejects(store.tag(id('1'), `app@${id('9')}`), { code: 'BERTH_IMAGE_TAG_WITH_DIGEST' });
    await assert.rejects(store.tag(id('9'), 'app:v2'), { code: 'BERTH_IMAGE_NOT_FOUND' });
    await assert.rejects(store.add({ id: id('2'), manifest: manifest('d2'), tags: ['ok', 'NOT:ok'] }), { code: 'BERTH_REFERENCE_UPPERCASE' });
    assert.equal(store.get(id('2')), undefined, 'a refused add leaves no half-added image');
    assert.deepEqual(store.get(id('1'))!.repoTags, ['docker.io/library/app:v1']);
  });

  test('adding the same config again merges manifests and tags', async () => {
    const store = await fresh();
    await store.add({ id: id('1'), manifest: manifest('d1'), tags: ['a'] });
    await store.add({ id: id('1'), manifest: manifest('d2'), tags: ['b'] });
    await store.add({ id: id('1'), manifest: manifest('d1'), tags: ['a'] });
    const rec = store.get(id('1'))!;
    assert.deepEqual(rec.manifests.map((m) => m.manifest.digest), [id('d1'), id('d2')]);
    assert.deepEqual(rec.repoTags.sort(), ['docker.io/library/a:latest', 'docker.io/library/b:latest']);
  });

  test('state survives reopening; the OCI index.json lists tagged manifests', async () => {
    const path = join(dir, 'persist');
    const indexPath = join(dir, 'persist-index.json');
    const store = await ImageStore.open(path, { ociIndexPath: indexPath });
    await store.add({ id: id('1'), manifest: manifest('d1'), tags: ['localhost:5000/x:1', 'x'] });
    await store.add({ id: id('2'), manifest: manifest('d2') });
    await store.delete(id('2'));
    const again = await ImageStore.open(path);
    assert.deepEqual(again.list().map((r) => r.id), [id('1')]);
    assert.deepEqual(again.resolve('x').repoTags, ['localhost:5000/x:1', 'docker.io/library/x:latest']);
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    assert.deepEqual(
      index.manifests.map((m: Descriptor) => [m.digest, m.annotations?.['io.containerd.image.name'], m.annotations?.['org.opencontainers.image.ref.name']]),
      [
        [id('d1'), 'localhost:5000/x:1', '1'],
        [id('d1'), 'docker.io/library/x:latest', 'latest'],
      ],
    );
  });

  test('concurrent changes are applied one at a time and all persist', async () => {
    const path = join(dir, 'concurrent');
    const store = await ImageStore.open(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.add({ id: id(`f${i.toString(16).padStart(2, '0')}`), manifest: manifest(`e${i}`), tags: [`img${i}`] })));
    const again = await ImageStore.open(path);
    assert.equal(again.list().length, 20);
    assert.equal(again.resolve('img7').id, id('f07'));
  });

  test('a corrupt database file is reported, not silently replaced', async () => {
    const path = join(dir, 'corrupt');
    const store = await ImageStore.open(path);
    await store.add({ id: id('1'), manifest: manifest('d1') });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(path, 'images.json'), '{"version":1,"images":[{"id":"nope"}]}');
    await assert.rejects(ImageStore.open(path), { code: 'BERTH_IMAGE_DB_CORRUPT' });
    await writeFile(join(path, 'images.json'), '{trunc');
    await assert.rejects(ImageStore.open(path), /not valid JSON/);
  });
});
