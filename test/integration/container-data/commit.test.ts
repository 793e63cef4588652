import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile, lstat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { ImageService } from '../../../src/image/service.ts';
import { importRootfs } from '../../../src/image/archive/import.ts';
import { mountAll, unmount } from '../../../src/snapshot/mount.ts';
import { parseManifest } from '../../../src/image/manifest.ts';
import type { Snapshotter } from '../../../src/snapshot/types.ts';
import { applyCommitChanges, commitContainer, containerChanges, EMPTY_LAYER_DIFF_ID, mergeCommitConfig } from '../../../src/container/commit.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { readTarEntries } from './helpers.ts';
import { createGunzip } from 'node:zlib';

describe('docker commit and docker diff on a real snapshot', () => {
  let dir: string;
  let images: ImageService;
  let snapshots: Snapshotter;
  let baseId: string;
  let chainId: string;
  const mounted: string[] = [];

  async function mountSnapshot(key: string, target: string, view = false): Promise<void> {
    await mkdir(target, { recursive: true });
    const info = await snapshots.find(key);
    const mounts = info ? await snapshots.mounts(key) : view ? await snapshots.view(key, chainId) : await snapshots.prepare(key, chainId);
    await mountAll(mounts, target);
    mounted.push(target);
  }
  async function unmountAll(): Promise<void> {
    while (mounted.length > 0) await unmount(mounted.pop()!).catch(() => {});
  }

  before(async () => {
    dir = await makeTempDir('berth-commit-');
    images = await ImageService.open(join(dir, 'root'));
    snapshots = images.snapshotter!;
    const tarPath = join(dir, 'busybox.tar');
    await makeBusyboxTar(dir, tarPath);
    const imported = await importRootfs(images, createReadStream(tarPath), { ref: 'busybox:latest', changes: ['CMD ["sh"]', 'ENV PATH=/bin:/usr/bin'] });
    baseId = imported.id;
    chainId = (await images.imageForContainer('busybox')).chainId!;
  });
  after(async () => {
    await unmountAll();
    await removeTempDir(dir);
  });

  test('diff lists added, changed and deleted paths with Docker kinds; commit makes an image with the change on top', async () => {
    const rootfs = join(dir, 'ctr1');
    await mountSnapshot('ctr1', rootfs);
    await mkdir(join(rootfs, 'app'));
    await writeFile(join(rootfs, 'app/hello.txt'), 'hello from the container\n');
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n');
    await rm(join(rootfs, 'etc/group'));
    await symlink('hello.txt', join(rootfs, 'app/link'));
    await unmountAll();

    const diff = await containerChanges(snapshots, 'ctr1');
    assert.deepEqual(diff, [
      { Path: '/app', Kind: 1 },
      { Path: '/app/hello.txt', Kind: 1 },
      { Path: '/app/link', Kind: 1 },
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/group', Kind: 2 },
      { Path: '/etc/passwd', Kind: 0 },
    ]);

    const result = await commitContainer({
      images, snapshotter: snapshots, snapshotKey: 'ctr1', baseImageId: baseId,
      containerConfig: { Hostname: 'abc123', Image: 'busybox', Cmd: ['sh', '-c', 'echo hi'], Env: ['PATH=/bin:/usr/bin', 'A=1'], Tty: false },
      changes: ['ENV B=2', 'LABEL maintainer=me', 'WORKDIR /app', 'EXPOSE 8080', 'USER app'],
      author: 'Tester <t@example.com>', comment: 'first commit', reference: 'committed:v1', containerId: 'c'.repeat(64),
    });
    assert.equal(result.tag, 'docker.io/library/committed:v1');
    assert.ok(result.diffId);

    const details = await images.inspect('committed:v1');
    assert.equal(details.id, result.id);
    assert.equal(details.parent, baseId);
    assert.equal(details.author, 'Tester <t@example.com>');
    assert.equal(details.comment, 'first commit');
    const base = await images.inspect(baseId);
    assert.deepEqual(details.rootfs.diffIds, [...base.rootfs.diffIds, result.diffId]);
    assert.deepEqual(details.config.Cmd, ['sh', '-c', 'echo hi']);
    assert.deepEqual(details.config.Env, ['PATH=/bin:/usr/bin', 'A=1', 'B=2']);
    assert.equal(details.config.WorkingDir, '/app');
    assert.equal(details.config.User, 'app');
    assert.deepEqual(details.config.Labels, { maintainer: 'me' });
    assert.deepEqual(details.config.ExposedPorts, { '8080/tcp': {} });
    assert.equal(details.config.Hostname, 'abc123');
    const last = details.history[details.history.length - 1]!;
    assert.equal(last.created_by, 'sh -c echo hi');
    assert.equal(last.author, 'Tester <t@example.com>');
    assert.equal(last.comment, 'first commit');
    assert.equal(details.history.length, base.history.length + 1);

    // The new layer in the store is a gzip tar of exactly the change set, with the deletion as a whiteout.
    const parsed = parseManifest(await images.content.readBytes(details.manifests[0]!.digest));
    assert.equal(parsed.kind, 'manifest');
    const top = parsed.kind === 'manifest' ? parsed.manifest.layers.at(-1)! : undefined;
    assert.equal(top!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    const entries = await readTarEntries(images.content.read(top!.digest).pipe(createGunzip()));
    assert.deepEqual(entries.map((e) => e.name).sort(), ['app/', 'app/hello.txt', 'app/link', 'etc/', 'etc/.wh.group', 'etc/passwd']);

    // A container from the committed image sees the change.
    const { chainId: newChain } = await images.imageForContainer('committed:v1');
    const view = join(dir, 'view');
    await mkdir(view);
    await mountAll(await snapshots.view('view-of-commit', newChain!), view);
    mounted.push(view);
    try {
      assert.equal(await readFile(join(view, 'app/hello.txt'), 'utf8'), 'hello from the container\n');
      assert.match(await readFile(join(view, 'etc/passwd'), 'utf8'), /^app:x:1000/m);
      await assert.rejects(lstat(join(view, 'etc/group')), { code: 'ENOENT' });
      assert.ok((await lstat(join(view, 'bin/busybox'))).isFile());
    } finally {
      await unmountAll();
      await snapshots.remove('view-of-commit');
    }
  });

  test('a container without changes commits an empty layer as Docker does (no new diff ID, empty_layer history)', async () => {
    await snapshots.prepare('ctr-empty', chainId);
    assert.deepEqual(await containerChanges(snapshots, 'ctr-empty'), []);
    const result = await commitContainer({
      images, snapshotter: snapshots, snapshotKey: 'ctr-empty', baseImageId: baseId,
      containerConfig: { Cmd: ['sh'] }, changes: ['ENTRYPOINT ["/bin/echo"]'],
    });
    assert.equal(result.diffId, undefined);
    const details = await images.inspect(result.id);
    const base = await images.inspect(baseId);
    assert.deepEqual(details.rootfs.diffIds, base.rootfs.diffIds);
    assert.equal(details.history.at(-1)!.empty_layer, true);
    assert.deepEqual(details.config.Entrypoint, ['/bin/echo']);
    assert.equal(details.config.Cmd, null, 'ENTRYPOINT without CMD clears CMD, as in a Dockerfile');
    assert.equal(EMPTY_LAYER_DIFF_ID.length, 71);
  });

  test('bad input: a bad CHANGE line, a digest reference and a missing snapshot are refused before anything is written', async () => {
    await snapshots.prepare('ctr-bad', chainId);
    const before = (await images.list()).length;
    await assert.rejects(
      commitContainer({ images, snapshotter: snapshots, snapshotKey: 'ctr-bad', baseImageId: baseId, containerConfig: {}, changes: ['RUN rm -rf /'] }),
      (err: unknown) => isBerthError(err, 'BERTH_COMMIT_INVALID_CHANGE') && err.status === 400 && /RUN is not supported/.test(err.message),
    );
    await assert.rejects(
      commitContainer({ images, snapshotter: snapshots, snapshotKey: 'ctr-bad', baseImageId: baseId, containerConfig: {}, reference: 'x@sha256:' + 'a'.repeat(64) }),
      (err: unknown) => isBerthError(err) && err.status === 400,
    );
    await assert.rejects(
      commitContainer({ images, snapshotter: snapshots, snapshotKey: 'no-such-container', baseImageId: baseId, containerConfig: {} }),
      (err: unknown) => isBerthError(err, 'BERTH_COMMIT_NO_SNAPSHOT') && err.status === 404,
    );
    await assert.rejects(
      commitContainer({ images, snapshotter: snapshots, snapshotKey: chainId, baseImageId: baseId, containerConfig: {} }),
      (err: unknown) => isBerthError(err, 'BERTH_COMMIT_NO_SNAPSHOT') && err.status === 400,
    );
    assert.equal((await images.list()).length, before);
  });
});

describe('commit config rules', () => {
  test('merge: what the changes set wins, the rest comes from the container', () => {
    const merged = mergeCommitConfig({ Env: ['A=2'], Cmd: null }, { Env: ['A=1', 'B=1'], Cmd: ['sh'], WorkingDir: '/w', StopSignal: 'SIGINT' });
    assert.deepEqual(merged.Env, ['A=2', 'B=1']);
    assert.deepEqual(merged.Cmd, ['sh']);
    assert.equal(merged.WorkingDir, '/w');
    assert.equal(merged.StopSignal, 'SIGINT');
    assert.equal(mergeCommitConfig({}, { Hostname: 'h', Tty: true }).Hostname, undefined, 'only the fields Docker merges come from the container');
  });
  test('CMD before ENTRYPOINT survives it; ENTRYPOINT alone clears CMD', () => {
    assert.deepEqual(applyCommitChanges({ Cmd: ['old'] }, ['CMD ["new"]', 'ENTRYPOINT ["e"]']).Cmd, ['new']);
    assert.equal(applyCommitChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["e"]']).Cmd, null);
    assert.deepEqual(applyCommitChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["e"]', 'CMD x']).Cmd, ['/bin/sh', '-c', 'x']);
  });
});
