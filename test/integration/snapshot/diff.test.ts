import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, rm, chmod, chown, symlink, link, appendFile, utimes } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { setAttribute } from '@napi-rs/xattr';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, unmountUnder } from '../../helpers/tmp.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { openSnapshotter } from '../../../src/snapshot/open.ts';
import { mountAll, unmount } from '../../../src/snapshot/mount.ts';
import { applyImageLayers } from '../../../src/snapshot/layers.ts';
import { applyLayer } from '../../../src/snapshot/apply.ts';
import { changes, diffLayer, writeDiffLayer } from '../../../src/snapshot/diff.ts';
import type { ContentStore } from '../../../src/content/types.ts';
import type { Digest } from '../../../src/oci/image-spec.ts';
import type { DirSnapshotter } from '../../../src/snapshot/base.ts';
import { makeTar, sha256, gz, describeTree, streamOf, T0, type FixtureEntry } from './fixtures.ts';

const baseEntries: FixtureEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hostname', body: 'base\n' },
  { name: 'etc/motd', body: 'hello\n' },
  { name: 'etc/keep', body: 'keep\n' },
  { name: 'var/', type: 'directory' },
  { name: 'var/lib/', type: 'directory' },
  { name: 'var/lib/db/', type: 'directory' },
  { name: 'var/lib/db/a', body: 'a' },
  { name: 'var/lib/db/b', body: 'b' },
  { name: 'opt/tool/', type: 'directory' },
  { name: 'opt/tool/bin', body: 'bin', mode: 0o755 },
  { name: 'srv/', type: 'directory' },
  { name: 'srv/file-then-dir', body: 'f' },
  { name: 'usr/bin/su', body: 'su', mode: 0o755 },
];

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

for (const driver of ['overlayfs', 'native'] as const) {
  describe(`diff of a changed ${driver} snapshot`, () => {
    let dir: string;
    let store: ContentStore;
    let s: DirSnapshotter;
    let baseKey: string;
    let baseTar: Buffer;
    before(async () => {
      dir = await makeTempDir(`berth-diff-${driver}-`);
      store = await openContentStore(join(dir, 'content'));
      s = await openSnapshotter({ dataRoot: join(dir, 'root'), driver });
      baseTar = await makeTar(baseEntries);
      const blob = await store.writeBytes(gz(baseTar));
      const r = await applyImageLayers({
        store, snapshotter: s,
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size }],
        diffIds: [sha256(baseTar) as Digest],
      });
      baseKey = r.snapshotKey;
      // Change things through a real mount, as a container would.
      const mnt = join(dir, 'mnt');
      await mkdir(mnt);
      await mountAll(await s.prepare('ctr', baseKey), mnt);
      try {
        await writeFile(join(mnt, 'etc/hostname'), 'changed\n');
        await rm(join(mnt, 'etc/motd'));
        await rm(join(mnt, 'var/lib/db'), { recursive: true });
        await mkdir(join(mnt, 'var/lib/db'));
        await writeFile(join(mnt, 'var/lib/db/c'), 'c');
        await rm(join(mnt, 'opt/tool'), { recursive: true });
        await rm(join(mnt, 'srv/file-then-dir'));
        await mkdir(join(mnt, 'srv/file-then-dir'));
        await writeFile(join(mnt, 'srv/file-then-dir/inner'), 'inner');
        await chmod(join(mnt, 'usr/bin/su'), 0o4755);
        await chown(join(mnt, 'etc/keep'), 1000, 1000);
        await mkdir(join(mnt, 'home/user'), { recursive: true });
        await writeFile(join(mnt, 'home/user/big'), Buffer.alloc(2 * 1024 * 1024 + 3, 9));
        await symlink('../etc/hostname', join(mnt, 'home/user/link'));
        await writeFile(join(mnt, 'home/user/h1'), 'hard');
        await link(join(mnt, 'home/user/h1'), join(mnt, 'home/user/h2'));
        execFileSync('mkfifo', [join(mnt, 'home/user/fifo')]);
        execFileSync('mknod', [join(mnt, 'home/user/null'), 'c', '1', '3']);
        await writeFile(join(mnt, 'home/user/x'), 'x');
        await setAttribute(join(mnt, 'home/user/x'), 'user.comment', Buffer.from([0, 1, 2, 255, 254]));
        await appendFile(join(mnt, 'home/user/x'), '');
        await utimes(join(mnt, 'home/user/x'), T0, T0);
      } finally {
        await unmount(mnt);
      }
    });
    after(async () => {
      unmountUnder(dir);
      await removeTempDir(dir);
    });

    test('changes() lists what docker diff would', async () => {
      const list = await changes(await s.dirs('ctr'));
      const has = (kind: string, path: string) => assert.ok(list.some((c) => c.kind === kind && c.path === path), `${kind} ${path} missing from ${JSON.stringify(list)}`);
      has('C', '/etc');
      has('C', '/etc/hostname');
      has('D', '/etc/motd');
      has('C', '/etc/keep');
      has('D', '/opt/tool');
      has('A', '/var/lib/db/c');
      has('D', '/var/lib/db/a');
      has('C', '/usr/bin/su');
      has('A', '/home');
      has('A', '/home/user/big');
      has('C', '/srv/file-then-dir');
      assert.ok(!list.some((c) => c.path === '/etc/keep/..' || c.path.startsWith('/opt/tool/')), 'a deleted dir is one D');
    });

    test('round trip: base + diff applied to a fresh tree equals the changed snapshot', async () => {
      const d = diffLayer(await s.dirs('ctr'));
      const layerBytes = await readAll(d.stream);
      const diffId = await d.diffId;
      assert.equal(d.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');

      const fresh = join(dir, `fresh-${Math.random()}`);
      await mkdir(fresh);
      await applyLayer(streamOf(baseTar), { target: fresh, whiteouts: 'delete' });
      const applied = await applyLayer(streamOf(layerBytes), { target: fresh, whiteouts: 'delete' });
      assert.equal(applied.diffId, diffId, 'the diffID reported by diff is that of the tar it wrote');

      const mnt = join(dir, `view-${Math.random()}`);
      await mkdir(mnt);
      await s.commit('ctr-committed', 'ctr');
      await mountAll(await s.view('ctr-view', 'ctr-committed'), mnt);
      try {
        assert.deepEqual(await describeTree(fresh), await describeTree(mnt));
      } finally {
        await unmount(mnt);
        await s.remove('ctr-view');
      }
    });

    test('the diff is deterministic and stores as a layer', async () => {
      const dirs = await s.dirs('ctr-committed');
      const a = await readAll(diffLayer(dirs, { compression: 'none' }).stream);
      const b = await readAll(diffLayer(dirs, { compression: 'none' }).stream);
      assert.ok(a.equals(b), 'same changes, same bytes');
      const stored = await writeDiffLayer(dirs, store);
      assert.equal(stored.diffId, sha256(a));
      assert.equal(stored.descriptor.size, (await store.info(stored.descriptor.digest))!.size);
      const z = await readAll(diffLayer(dirs, { compression: 'zstd' }).stream);
      assert.deepEqual([...z.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    });

    test('a snapshot without a parent diffs to its whole tree', async () => {
      await s.prepare('scratch');
      const d = await s.dirs('scratch');
      await writeFile(join(d.dir, 'only'), 'only');
      assert.deepEqual(await changes(d), [{ kind: 'A', path: '/only' }]);
      await s.remove('scratch');
    });
  });
}
