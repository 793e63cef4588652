import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile, readdir, rm, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, unmountUnder } from '../../helpers/tmp.ts';
import { openSnapshotter, overlaySupported } from '../../../src/snapshot/open.ts';
import { mountAll, unmount } from '../../../src/snapshot/mount.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import type { DirSnapshotter } from '../../../src/snapshot/base.ts';
import type { Mount } from '../../../src/snapshot/types.ts';

/**
 * One conformance suite, run against both snapshotters on the real kernel:
 * what a container engine does with them (prepare, mount, write, commit,
 * stack, view, remove) and what must hold after a crash.
 */
for (const driver of ['overlayfs', 'native'] as const) {
  describe(`snapshotter conformance: ${driver}`, () => {
    let dir: string;
    let s: DirSnapshotter;
    let mnt: string;
    before(async () => {
      dir = await makeTempDir(`berth-snap-${driver}-`);
      mnt = join(dir, 'mnt');
      await mkdir(mnt);
      s = await openSnapshotter({ dataRoot: join(dir, 'root'), driver });
    });
    after(async () => {
      unmountUnder(dir);
      await removeTempDir(dir);
    });

    async function withMounted<T>(mounts: Mount[], fn: (root: string) => Promise<T>): Promise<T> {
      await mountAll(mounts, mnt);
      try {
        return await fn(mnt);
      } finally {
        await unmount(mnt);
      }
    }
    const code = (c: string) => (err: unknown) => { assert.ok(isBerthError(err, c), `expected ${c}, got ${String(err)}`); return true; };

    test('the requested driver is used', () => {
      assert.equal(s.name, driver);
      assert.equal(s.independentLayers, driver === 'overlayfs');
    });

    test('prepare → write through the mount → commit → a child sees it and changes it', async () => {
      const m1 = await s.prepare('base-active', undefined, { labels: { purpose: 'test' } });
      await withMounted(m1, async (root) => {
        await mkdir(join(root, 'etc'));
        await writeFile(join(root, 'etc/hostname'), 'base\n');
        await writeFile(join(root, 'gone'), 'delete me');
        await writeFile(join(root, 'big'), Buffer.alloc(1024 * 1024, 1));
      });
      await s.commit('base', 'base-active');
      await assert.rejects(s.stat('base-active'), code('BERTH_SNAPSHOT_NOT_FOUND'));
      const base = await s.stat('base');
      assert.equal(base.kind, 'committed');
      assert.equal(base.labels.purpose, 'test');

      const m2 = await s.prepare('child-active', 'base');
      assert.equal((await s.stat('child-active')).parent, 'base');
      await withMounted(m2, async (root) => {
        assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'base\n');
        await writeFile(join(root, 'etc/hostname'), 'child\n');
        await rm(join(root, 'gone'));
        await writeFile(join(root, 'new'), 'new');
      });
      await s.commit('child', 'child-active');

      const v = await s.view('child-view', 'child');
      await withMounted(v, async (root) => {
        assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'child\n');
        assert.equal(await readFile(join(root, 'new'), 'utf8'), 'new');
        await assert.rejects(lstat(join(root, 'gone')), /ENOENT/);
        await assert.rejects(writeFile(join(root, 'x'), 'x'), /EROFS/, 'a view is read-only');
      });
      // the base layer is unchanged by its child
      const vb = await s.view('base-view', 'base');
      await withMounted(vb, async (root) => {
        assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'base\n');
        assert.equal(await readFile(join(root, 'gone'), 'utf8'), 'delete me');
      });
      await s.remove('base-view');
      await s.remove('child-view');
    });

    test('dirs() tells unpack and diff where to work', async () => {
      const d = await s.dirs('child');
      assert.equal(d.whiteouts, driver === 'overlayfs' ? 'overlay' : 'delete');
      if (driver === 'overlayfs') {
        assert.equal(d.lowers.length, 1);
        const wh = await lstat(join(d.dir, 'gone'));
        assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'deletion is an overlay whiteout in the layer dir');
      } else {
        assert.equal(d.lowers.length, 0);
        assert.equal(await readFile(join(d.parentTree!, 'gone'), 'utf8'), 'delete me');
      }
    });

    test('stat, list and walk show kinds, parents and labels', async () => {
      await s.prepare('work', 'child', { labels: { 'containerd.io/gc.root': 'x' } });
      const all = await s.list();
      const byKey = new Map(all.map((i) => [i.key, i]));
      assert.deepEqual([...byKey.keys()].sort(), ['base', 'child', 'work']);
      assert.equal(byKey.get('work')!.kind, 'active');
      assert.equal(byKey.get('work')!.parent, 'child');
      assert.equal(byKey.get('work')!.labels['containerd.io/gc.root'], 'x');
      const walked: string[] = [];
      for await (const i of s.walk()) walked.push(i.key);
      assert.deepEqual(walked, all.map((i) => i.key));
      assert.ok(Date.parse(byKey.get('base')!.created) > 0);
    });

    test('usage counts this snapshot only', async () => {
      const u = await s.usage('base');
      assert.ok(u.size >= 1024 * 1024, `size ${u.size}`);
      assert.ok(u.inodes >= 4);
      assert.deepEqual((await s.stat('base')).usage, u, 'a committed snapshot keeps its measured usage');
      assert.deepEqual(await s.usage('base'), u);
      const w = await s.usage('work');
      assert.ok(w.size < 1024 * 1024 || driver === 'native', 'an overlay active snapshot holds only its changes');
    });

    test('bad requests are clear errors', async () => {
      await assert.rejects(s.prepare('work', 'child'), code('BERTH_SNAPSHOT_EXISTS'));
      await assert.rejects(s.prepare('x', 'work'), code('BERTH_SNAPSHOT_INVALID_PARENT'));
      await assert.rejects(s.prepare('x', 'nope'), code('BERTH_SNAPSHOT_NOT_FOUND'));
      await assert.rejects(s.stat('nope'), code('BERTH_SNAPSHOT_NOT_FOUND'));
      await assert.rejects(s.mounts('base'), code('BERTH_SNAPSHOT_NOT_ACTIVE'));
      await assert.rejects(s.commit('base', 'work'), code('BERTH_SNAPSHOT_EXISTS'));
      await assert.rejects(s.remove('child'), code('BERTH_SNAPSHOT_IN_USE'));
      await s.view('v', 'child');
      await assert.rejects(s.commit('v2', 'v'), code('BERTH_SNAPSHOT_NOT_ACTIVE'));
      await s.remove('v');
      await assert.rejects(s.prepare('', undefined), code('BERTH_SNAPSHOT_INVALID_KEY'));
    });

    test('keys with slashes, dots and odd characters are stored safely', async () => {
      const key = '../../etc/x sha256:abc/..';
      await s.prepare(key);
      assert.equal((await s.stat(key)).key, key);
      assert.ok((await readdir(join(dir, 'root/snapshots/meta'))).every((f) => !f.includes('/')));
      await s.remove(key);
    });

    test('remove frees the directory; metadata survives a reopen', async () => {
      const before = (await s.list()).map((i) => i.key);
      const reopened = await openSnapshotter({ dataRoot: join(dir, 'root') });
      assert.equal(reopened.name, driver, 'the data root remembers its driver');
      assert.deepEqual((await reopened.list()).map((i) => i.key), before);
      const id = (await s.stat('work')).id;
      await s.remove('work');
      await assert.rejects(lstat(join(dir, 'root/snapshots', id)), /ENOENT/);
      // Its files go in the background; settle() waits for that.
      await s.settle();
      assert.deepEqual((await readdir(join(dir, 'root/snapshots'))).filter((n) => n.startsWith('new-')), []);
      await assert.rejects(openSnapshotter({ dataRoot: join(dir, 'root'), driver: driver === 'overlayfs' ? 'native' : 'overlayfs' }), code('BERTH_SNAPSHOT_DRIVER'));
    });

    test('a crash leaves nothing half-made after reopen', async () => {
      const root = join(dir, 'root/snapshots');
      // a snapshot being made, a directory without metadata, metadata without a directory
      await mkdir(join(root, 'new-deadbeef/fs'), { recursive: true });
      await mkdir(join(root, '999/fs'), { recursive: true });
      await writeFile(join(root, 'meta/ghost.json'), JSON.stringify({ key: 'ghost', kind: 'active', id: '4242', created: '', updated: '', labels: {} }));
      await writeFile(join(root, 'meta/.x.json.abc.tmp'), '{');
      // a commit interrupted after writing the committed record
      await s.prepare('half');
      const half = await s.stat('half');
      await writeFile(join(root, 'meta/half-committed.json'), JSON.stringify({ ...half, key: 'half-committed', kind: 'committed' }));
      const r = await openSnapshotter({ dataRoot: join(dir, 'root') });
      const names = await readdir(root);
      assert.ok(!names.includes('new-deadbeef') && !names.includes('999'), `left: ${names.join(' ')}`);
      assert.equal(await r.find('ghost'), undefined);
      assert.equal(await r.find('half'), undefined);
      assert.equal((await r.stat('half-committed')).kind, 'committed');
      assert.ok(!(await readdir(join(root, 'meta'))).some((f) => f.endsWith('.tmp')));
      await r.remove('half-committed');
    });

    if (driver === 'overlayfs') {
      test('independent layers: prepared without a parent, given one at commit', async () => {
        await s.prepare('layer2-extract');
        const d = await s.dirs('layer2-extract');
        assert.deepEqual(d.lowers, []);
        await writeFile(join(d.dir, 'added'), 'added');
        await s.commit('layer2', 'layer2-extract', { parent: 'child' });
        assert.equal((await s.stat('layer2')).parent, 'child');
        await withMounted(await s.view('l2v', 'layer2'), async (root) => {
          assert.equal(await readFile(join(root, 'added'), 'utf8'), 'added');
          assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'child\n');
        });
        await s.remove('l2v');
        await s.remove('layer2');
      });

      test('long layer chains mount (lowerdir longer than a page)', async () => {
        let parent: string | undefined = 'child';
        for (let i = 0; i < 130; i++) {
          const key = `chain-${i}-with-a-long-name-to-make-the-keys-long`;
          const active = `${key}-extract`;
          await s.prepare(active, parent);
          await writeFile(join((await s.dirs(active)).dir, `f${i}`), String(i));
          await s.commit(key, active);
          parent = key;
        }
        const m = await s.prepare('on-long-chain', parent);
        assert.ok(m[0]!.options.join(',').length > 4096, 'the options really exceed a page');
        await withMounted(m, async (root) => {
          assert.equal(await readFile(join(root, 'f0'), 'utf8'), '0');
          assert.equal(await readFile(join(root, 'f129'), 'utf8'), '129');
          assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'child\n');
        });
      });
    } else {
      test('committing with a parent is refused where layers are not independent', async () => {
        await s.prepare('lonely');
        await assert.rejects(s.commit('lonely-c', 'lonely', { parent: 'child' }), code('BERTH_SNAPSHOT_INVALID_PARENT'));
        await s.remove('lonely');
      });
    }
  });
}

test('overlay detection works on this host and is cached', async () => {
  const dir = await makeTempDir('berth-detect-');
  try {
    assert.equal(await overlaySupported(dir), true, 'overlayfs works on this VM');
    assert.equal(await overlaySupported(dir), true);
    assert.deepEqual(await readdir(dir), [], 'the probe cleans up after itself');
  } finally {
    await removeTempDir(dir);
  }
});

test('snapshots are made concurrently; a parent cannot go while a child is being made', async () => {
  const dir = await makeTempDir('berth-snap-conc-');
  try {
    const s = await openSnapshotter({ dataRoot: dir, driver: 'native' });
    await s.prepare('p-active');
    const d = await s.dirs('p-active');
    for (let i = 0; i < 200; i++) await writeFile(join(d.dir, `f${i}`), Buffer.alloc(64 * 1024, i));
    await s.commit('p', 'p-active');
    const making = Promise.all([s.prepare('c1', 'p'), s.prepare('c2', 'p'), s.view('c3', 'p')]);
    const dup = s.prepare('c1', 'p');
    await assert.rejects(dup, (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_EXISTS'));
    await making;
    for (const k of ['c1', 'c2', 'c3']) assert.equal((await readdir((await s.dirs(k)).dir)).length, 200);
    await assert.rejects(s.remove('p'), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_IN_USE'));
    const late = s.prepare('c4', 'p');
    const removing = s.remove('p').then(() => 'removed', (err: unknown) => (isBerthError(err, 'BERTH_SNAPSHOT_IN_USE') ? 'in use' : String(err)));
    await late;
    assert.equal(await removing, 'in use');
    assert.equal((await readdir((await s.dirs('c4')).dir)).length, 200);
  } finally {
    await removeTempDir(dir);
  }
});
