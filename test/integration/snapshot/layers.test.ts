import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, lstat } from 'node:fs/promises';
import { zstdCompressSync } from 'node:zlib';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, unmountUnder } from '../../helpers/tmp.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { openSnapshotter } from '../../../src/snapshot/open.ts';
import { mountAll, unmount } from '../../../src/snapshot/mount.ts';
import { applyImageLayers, chainIds, startProgressiveUnpack, unpackImage, unpackedPrefix } from '../../../src/snapshot/layers.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import type { ProgressEvent } from '../../../src/common/progress.ts';
import type { Descriptor, Digest } from '../../../src/oci/image-spec.ts';
import type { ContentStore } from '../../../src/content/types.ts';
import type { DirSnapshotter } from '../../../src/snapshot/base.ts';
import { makeTar, sha256, gz, type FixtureEntry } from './fixtures.ts';

test('chain IDs follow the OCI image spec', () => {
  const a = `sha256:${'a'.repeat(64)}` as Digest;
  const b = `sha256:${'b'.repeat(64)}` as Digest;
  const c = `sha256:${'c'.repeat(64)}` as Digest;
  const ab = `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`;
  const abc = `sha256:${createHash('sha256').update(`${ab} ${c}`).digest('hex')}`;
  assert.deepEqual(chainIds([a, b, c]), [a, ab, abc]);
  assert.deepEqual(chainIds([]), []);
});

interface Layer { descriptor: Descriptor; diffId: Digest }

async function putLayer(store: ContentStore, entries: FixtureEntry[], codec: 'gzip' | 'zstd' | 'none'): Promise<Layer> {
  const tarBytes = await makeTar(entries);
  const blob = codec === 'gzip' ? gz(tarBytes) : codec === 'zstd' ? zstdCompressSync(tarBytes) : tarBytes;
  const info = await store.writeBytes(blob);
  const mediaType = codec === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : codec === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar';
  return { descriptor: { mediaType, digest: info.digest, size: info.size }, diffId: sha256(tarBytes) as Digest };
}

for (const driver of ['overlayfs', 'native'] as const) {
  describe(`image layers into ${driver} snapshots`, () => {
    let dir: string;
    let store: ContentStore;
    let s: DirSnapshotter;
    let base: Layer, mid: Layer, top: Layer, other: Layer;
    before(async () => {
      dir = await makeTempDir(`berth-layers-${driver}-`);
      store = await openContentStore(join(dir, 'content'));
      s = await openSnapshotter({ dataRoot: join(dir, 'root'), driver });
      base = await putLayer(store, [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/os-release', body: 'base' },
        { name: 'bin/', type: 'directory' },
        { name: 'bin/sh', body: '#!sh', mode: 0o755 },
        { name: 'var/cache/', type: 'directory' },
        { name: 'var/cache/a', body: 'a' },
      ], 'gzip');
      mid = await putLayer(store, [{ name: 'etc/.wh.os-release' }, { name: 'var/cache/.wh..wh..opq' }, { name: 'var/cache/b', body: 'b' }], 'zstd');
      top = await putLayer(store, [{ name: 'etc/os-release', body: 'top' }, { name: 'app', body: 'app' }], 'none');
      other = await putLayer(store, [{ name: 'other', body: 'other' }], 'gzip');
    });
    after(async () => {
      unmountUnder(dir);
      await removeTempDir(dir);
    });

    async function merged(key: string): Promise<Map<string, string>> {
      const view = `view-${Math.random()}`;
      const mnt = join(dir, `mnt-${Math.random()}`);
      await mkdir(mnt);
      await mountAll(await s.view(view, key), mnt);
      const out = new Map<string, string>();
      try {
        async function walk(rel: string) {
          for (const n of (await readdir(join(mnt, rel))).sort()) {
            const r = rel ? `${rel}/${n}` : n;
            const st = await lstat(join(mnt, r));
            if (st.isDirectory()) await walk(r);
            else out.set(r, await readFile(join(mnt, r), 'utf8'));
          }
        }
        await walk('');
      } finally {
        await unmount(mnt);
        await s.remove(view);
      }
      return out;
    }

    async function committed(): Promise<string[]> {
      return (await s.list()).filter((i) => i.kind === 'committed').map((i) => i.key).sort();
    }

    test('three layers (gzip, zstd, plain) unpack into a chain with whiteouts applied', async () => {
      const events: ProgressEvent[] = [];
      const layers = [base, mid, top];
      const r = await applyImageLayers({ store, snapshotter: s, layers: layers.map((l) => l.descriptor), diffIds: layers.map((l) => l.diffId), onProgress: (e) => events.push(e) });
      const ids = chainIds(layers.map((l) => l.diffId));
      assert.equal(r.chainId, ids[2]);
      assert.equal(r.snapshotKey, ids[2]);
      assert.equal((await s.stat(ids[2]!)).parent, ids[1]);
      assert.deepEqual(Object.fromEntries(await merged(r.snapshotKey)), { app: 'app', 'bin/sh': '#!sh', 'etc/os-release': 'top', 'var/cache/b': 'b' });
      assert.equal(events.filter((e) => e.status === 'Pull complete').length, 3);
      assert.ok(events.some((e) => e.status === 'Extracting' && e.total === base.descriptor.size));
      assert.deepEqual(await committed(), [...ids].sort());
      assert.equal(await unpackedPrefix(s, layers.map((l) => l.diffId)), 3);
    });

    test('an image sharing the lower layers unpacks only its own layer', async () => {
      const events: ProgressEvent[] = [];
      const layers = [base, mid, other];
      const r = await applyImageLayers({ store, snapshotter: s, layers: layers.map((l) => l.descriptor), diffIds: layers.map((l) => l.diffId), onProgress: (e) => events.push(e) });
      assert.deepEqual(events.filter((e) => e.status === 'Already exists').map((e) => e.id), [base, mid].map((l) => l.descriptor.digest.slice(7, 19)));
      assert.equal(events.filter((e) => e.status === 'Pull complete').length, 1);
      assert.equal((await merged(r.snapshotKey)).get('other'), 'other');
      assert.equal((await committed()).length, 4);
      assert.equal(await unpackedPrefix(s, [base.diffId, mid.diffId, top.diffId, other.diffId]), 3);
    });

    test('concurrent calls for the same new chain unpack it once', async () => {
      const l1 = await putLayer(store, [{ name: 'c1', body: '1' }], 'gzip');
      const l2 = await putLayer(store, [{ name: 'c2', body: '2' }], 'gzip');
      const counts: number[] = [];
      const run = () => {
        let n = 0;
        return applyImageLayers({ store, snapshotter: s, layers: [l1.descriptor, l2.descriptor], diffIds: [l1.diffId, l2.diffId], onProgress: (e) => { if (e.status === 'Pull complete') n++; } }).then((r) => { counts.push(n); return r; });
      };
      const [a, b] = await Promise.all([run(), run(), run()]);
      assert.equal(a!.snapshotKey, b!.snapshotKey);
      assert.equal(counts.reduce((x, y) => x + y, 0), 2, 'two layers, each unpacked exactly once across three calls');
      assert.ok(!(await s.list()).some((i) => i.key.startsWith('extract-')), 'no extraction snapshots left');
    });

    test('layers that arrive out of order (top first) still stack in order', async () => {
      const l = [
        await putLayer(store, [{ name: 'x/1', body: '1' }], 'gzip'),
        await putLayer(store, [{ name: 'x/.wh.1' }, { name: 'x/2', body: '2' }], 'gzip'),
        await putLayer(store, [{ name: 'x/3', body: '3' }], 'gzip'),
      ];
      const gates = l.map(() => { let open!: () => void; const p = new Promise<void>((r) => (open = r)); return { p, open }; });
      const pending = unpackImage({ snapshotter: s, store, layers: l.map((x, i) => ({ ...x, ready: gates[i]!.p })) });
      gates[2]!.open();
      await new Promise((r) => setTimeout(r, 50));
      gates[1]!.open();
      await new Promise((r) => setTimeout(r, 50));
      gates[0]!.open();
      const r = await pending;
      assert.deepEqual(Object.fromEntries([...(await merged(r.snapshotKey!))].filter(([k]) => k.startsWith('x/'))), { 'x/2': '2', 'x/3': '3' });
    });

    test('progressive unpack: layers announced as their downloads finish; an aborted pull leaves nothing', async () => {
      const l = [
        await putLayer(store, [{ name: 'p/1', body: '1' }], 'gzip'),
        await putLayer(store, [{ name: 'p/2', body: '2' }], 'zstd'),
        await putLayer(store, [{ name: 'p/3', body: '3' }], 'none'),
      ];
      const before = (await s.list()).length;
      const run = startProgressiveUnpack({ snapshotter: s, store, layers: l.map((x) => x.descriptor), diffIds: l.map((x) => x.diffId) });
      run.layerReady(1);
      run.layerReady(2);
      run.layerReady(0);
      const r = await run.done;
      assert.equal((await merged(r.snapshotKey!)).get('p/3'), '3');
      assert.equal((await s.list()).length, before + 3);

      const m = [await putLayer(store, [{ name: 'q/1', body: '1' }], 'gzip'), await putLayer(store, [{ name: 'q/2', body: '2' }], 'gzip')];
      const aborted = startProgressiveUnpack({ snapshotter: s, store, layers: m.map((x) => x.descriptor), diffIds: m.map((x) => x.diffId) });
      aborted.layerReady(1);
      await new Promise((res) => setTimeout(res, 50));
      aborted.abort(new Error('download failed'));
      await assert.rejects(aborted.done, /download failed/);
      assert.equal((await s.list()).length, before + 3, 'no snapshot left from the aborted pull');
    });

    test('a diffID mismatch is a clear error and leaves no snapshot', async () => {
      const l = await putLayer(store, [{ name: 'f', body: 'f' }], 'gzip');
      const wrong = sha256(Buffer.from('something else')) as Digest;
      const before = await s.list();
      await assert.rejects(applyImageLayers({ store, snapshotter: s, layers: [base.descriptor, l.descriptor], diffIds: [base.diffId, wrong] }), (err: unknown) => {
        assert.ok(isBerthError(err, 'BERTH_SNAPSHOT_DIFFID_MISMATCH'), String(err));
        assert.match((err as Error).message, new RegExp(l.descriptor.digest));
        assert.match((err as Error).message, new RegExp(wrong));
        return true;
      });
      assert.deepEqual((await s.list()).map((i) => i.key), before.map((i) => i.key));
      await s.settle(); // removed snapshots' files go in the background
      assert.ok((await readdir(join(dir, 'root/snapshots'))).every((n) => !n.startsWith('new-')));
    });

    test('a layer with a path escape is refused and leaves no snapshot', async () => {
      const evil = await putLayer(store, [{ name: 'bin', type: 'symlink', linkname: '/tmp' }], 'gzip');
      const evil2 = await putLayer(store, [{ name: 'bin/pwned', body: 'x' }], 'gzip');
      const before = await s.list();
      await assert.rejects(applyImageLayers({ store, snapshotter: s, layers: [evil.descriptor, evil2.descriptor], diffIds: [evil.diffId, evil2.diffId] }), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_UNSAFE_PATH'));
      const after = (await s.list()).map((i) => i.key);
      assert.ok(after.includes(chainIds([evil.diffId])[0]!), 'the harmless first layer is kept (it is a valid layer)');
      assert.equal(after.length, before.length + 1);
      await assert.rejects(lstat('/tmp/pwned'), /ENOENT/);
    });

    test('bad image descriptions are clear errors', async () => {
      await assert.rejects(applyImageLayers({ store, snapshotter: s, layers: [base.descriptor], diffIds: [] }), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_BAD_IMAGE'));
      await assert.rejects(applyImageLayers({ store, snapshotter: s, layers: [{ ...base.descriptor, mediaType: 'application/json' }], diffIds: [base.diffId] }), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_UNSUPPORTED_LAYER'));
    });
  });
}

test('stale extraction snapshots from a crash are removed', async () => {
  const { removeStaleExtractions } = await import('../../../src/snapshot/layers.ts');
  const dir = await makeTempDir('berth-stale-');
  try {
    const s = await openSnapshotter({ dataRoot: dir });
    await s.prepare('extract-abc-sha256:1', undefined, { labels: { 'berth.io/extracting': 'sha256:1' } });
    await s.prepare('container-1');
    assert.deepEqual(await removeStaleExtractions(s), ['extract-abc-sha256:1']);
    assert.deepEqual((await s.list()).map((i) => i.key), ['container-1']);
  } finally {
    await removeTempDir(dir);
  }
});
