import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/local.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { collectGarbage, referencedContent, type SnapshotCatalog } from '../../../src/image/gc.ts';
import { chainIds } from '../../../src/image/chain-id.ts';
import { sha256Digest } from '../../../src/content/digest.ts';
import type { Digest } from '../../../src/content/types.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { writeTestImage } from './fixtures.ts';

/** An in-memory snapshot catalogue with parent links, recording removals in order. */
function catalog(entries: Array<{ chainId: Digest; parent?: Digest; size?: number }>): SnapshotCatalog & { removed: Digest[]; left: () => Digest[] } {
  const live = new Map(entries.map((e) => [e.chainId, e]));
  const removed: Digest[] = [];
  return {
    removed,
    left: () => [...live.keys()],
    async list() {
      return [...live.values()];
    },
    async remove(chainId) {
      for (const e of live.values()) assert.notEqual(e.parent, chainId, 'a parent is never removed before its child');
      live.delete(chainId);
      removed.push(chainId);
    },
  };
}

function snapshotsFor(diffIds: Digest[], size = 100) {
  const ids = chainIds(diffIds);
  return ids.map((chainId, i) => ({ chainId, ...(i > 0 ? { parent: ids[i - 1] } : {}), size }));
}

describe('garbage collection', () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await makeTempDir('berth-gc-');
  });
  after(async () => {
    await removeTempDir(dir);
  });

  async function setup() {
    const root = join(dir, `root-${n++}`);
    const content = await LocalContentStore.open(join(root, 'content'));
    const images = await ImageStore.open(join(root, 'image'));
    return { content, images };
  }

  test('chain IDs follow the OCI definition', () => {
    const a = sha256Digest('a');
    const b = sha256Digest('b');
    const c = sha256Digest('c');
    const ab = sha256Digest(`${a} ${b}`);
    assert.deepEqual(chainIds([a, b, c]), [a, ab, sha256Digest(`${ab} ${c}`)]);
    assert.deepEqual(chainIds([]), []);
  });

  test('keeps every blob of every image, deletes the rest, and reports bytes reclaimed', async () => {
    const { content, images } = await setup();
    const base = { hello: 'shared base layer\n' };
    const one = await writeTestImage(content, { layers: [base, { one: '1' }] });
    const two = await writeTestImage(content, { layers: [base, { two: '2' }] });
    await images.add({ id: one.id, manifest: one.manifest, tags: ['one'] });
    await images.add({ id: two.id, manifest: two.manifest, tags: ['two'] });
    const stray = await content.writeBytes(Buffer.from('orphan blob'));

    const result = await collectGarbage({ content, images: images.list() });
    assert.deepEqual(result.deletedBlobs, [stray]);
    assert.equal(result.spaceReclaimed, stray.size);
    for (const img of [one, two]) {
      for (const d of [img.id, img.manifest.digest, ...img.layers.map((l) => l.digest)]) assert.equal(await content.has(d), true);
    }
    assert.deepEqual([...result.referencedChainIds].sort(), [...new Set([...chainIds(one.diffIds), ...chainIds(two.diffIds)])].sort());
  });

  test('removing an image frees the blobs only it used; shared layers stay', async () => {
    const { content, images } = await setup();
    const base = { hello: 'shared\n' };
    const one = await writeTestImage(content, { layers: [base, { one: '1' }] });
    const two = await writeTestImage(content, { layers: [base, { two: '2' }] });
    await images.add({ id: one.id, manifest: one.manifest });
    await images.add({ id: two.id, manifest: two.manifest });
    await images.delete(two.id);
    const result = await collectGarbage({ content, images: images.list() });
    assert.deepEqual(new Set(result.deletedBlobs.map((b) => b.digest)), new Set([two.id, two.manifest.digest, two.layers[1]!.digest]));
    assert.equal(await content.has(two.layers[0]!.digest), true, 'the shared base layer is still used by "one"');
  });

  test('dry run deletes nothing; an index blob stays with its image', async () => {
    const { content, images } = await setup();
    const img = await writeTestImage(content);
    const index = await content.writeBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [img.manifest] })));
    await images.add({ id: img.id, manifest: img.manifest, index: { mediaType: 'application/vnd.oci.image.index.v1+json', ...index } });
    const stray = await content.writeBytes(Buffer.from('x'));
    const dry = await collectGarbage({ content, images: images.list(), dryRun: true });
    assert.deepEqual(dry.deletedBlobs, [stray]);
    assert.equal(await content.has(stray.digest), true);
    const refs = await referencedContent(content, images.list());
    assert.ok(refs.blobs.has(index.digest));
  });

  test('snapshots: unreferenced ones go children-first; in-use chains and their parents stay', async () => {
    const { content, images } = await setup();
    const kept = await writeTestImage(content, { layers: [{ a: 'a' }, { b: 'b' }] });
    const gone = await writeTestImage(content, { layers: [{ x: 'x' }, { y: 'y' }, { z: 'z' }] });
    const used = await writeTestImage(content, { layers: [{ u: 'u' }, { v: 'v' }] });
    await images.add({ id: kept.id, manifest: kept.manifest });
    const snaps = catalog([...snapshotsFor(kept.diffIds), ...snapshotsFor(gone.diffIds, 10), ...snapshotsFor(used.diffIds)]);
    const usedTop = chainIds(used.diffIds)[1]!;
    const result = await collectGarbage({ content, images: images.list(), snapshots: snaps, inUse: (c) => c === usedTop });
    const goneChains = chainIds(gone.diffIds);
    assert.deepEqual(snaps.removed, [goneChains[2], goneChains[1], goneChains[0]]);
    assert.deepEqual(result.deletedSnapshots, snaps.removed);
    assert.deepEqual(new Set(snaps.left()), new Set([...chainIds(kept.diffIds), ...chainIds(used.diffIds)]));
    assert.ok(result.spaceReclaimed >= 30);
  });

  test('a corrupt manifest stops collection instead of deleting what it would have referenced', async () => {
    const { content, images } = await setup();
    const bad = await content.writeBytes(Buffer.from('{not json'));
    const img = await writeTestImage(content);
    await images.add({ id: img.id, manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...bad } });
    await assert.rejects(collectGarbage({ content, images: images.list() }), { code: 'BERTH_MANIFEST_INVALID_JSON' });
    for (const l of img.layers) assert.equal(await content.has(l.digest), true);
  });
});
