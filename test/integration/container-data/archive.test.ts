import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, stat, symlink, utimes, lutimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxRootfs } from '../../helpers/busybox.ts';
import { encodePathStatHeader, getArchive, putArchive, statContainerPath } from '../../../src/container/archive.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { describeTree, makeTar, readAll, readTarEntries, T0 } from './helpers.ts';

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;

async function setTimes(root: string, rel: string): Promise<void> {
  const st = await lstat(join(root, rel));
  if (st.isSymbolicLink()) await lutimes(join(root, rel), T0, T0);
  else await utimes(join(root, rel), T0, T0);
}

/** A busybox rootfs plus /data with every entry type. */
async function makeRootfs(root: string): Promise<void> {
  await makeBusyboxRootfs(root);
  const d = join(root, 'data');
  await mkdir(join(d, 'sub'), { recursive: true });
  await writeFile(join(d, 'hello.txt'), 'hello\n');
  await chmod(join(d, 'hello.txt'), 0o640);
  await chown(join(d, 'hello.txt'), 1, 2);
  await writeFile(join(d, 'suid'), '#!/bin/sh\n');
  await chmod(join(d, 'suid'), 0o4755);
  await writeFile(join(d, 'sub/deep.txt'), Buffer.alloc(300_000, 7));
  await writeFile(join(d, 'empty'), '');
  await writeFile(join(d, '.wh.not-a-whiteout'), 'plain file\n');
  await symlink('hello.txt', join(d, 'link'));
  await symlink('/data/sub', join(d, 'abslink'));
  await link(join(d, 'hello.txt'), join(d, 'hard'));
  execFileSync('mknod', [join(d, 'fifo'), 'p']);
  execFileSync('mknod', [join(d, 'null'), 'c', '1', '3']);
  await chmod(join(d, 'sub'), 0o750);
  await chown(join(d, 'sub'), 1000, 1000);
  await chmod(join(d, 'fifo'), 0o620);
  for (const rel of ['data/hello.txt', 'data/suid', 'data/sub/deep.txt', 'data/empty', 'data/.wh.not-a-whiteout', 'data/link', 'data/abslink', 'data/fifo', 'data/null', 'data/sub', 'data']) {
    await setTimes(root, rel);
  }
}

function assertCode(code: string, status?: number) {
  return (err: unknown) => {
    assert.ok(isBerthError(err, code), `expected ${code}, got ${(err as Error)?.stack ?? err}`);
    if (status !== undefined) assert.equal((err as { status: number }).status, status);
    return true;
  };
}

describe('docker cp: path stat, archive and extract', () => {
  let dir: string;
  let rootfs: string;
  before(async () => {
    dir = await makeTempDir('berth-cp-');
    rootfs = join(dir, 'rootfs');
    await makeRootfs(rootfs);
  });
  after(async () => {
    await removeTempDir(dir);
  });

  test('stat of a file, a directory, a symlink and the root', async () => {
    const f = await statContainerPath(rootfs, '/data/hello.txt');
    assert.deepEqual(f, { name: 'hello.txt', size: 6, mode: 0o640, mtime: '2024-01-02T03:04:05Z', linkTarget: '' });
    const d = await statContainerPath(rootfs, 'data');
    assert.equal(d.name, 'data');
    assert.equal(d.mode, GO_DIR + 0o755);
    const l = await statContainerPath(rootfs, '/bin/sh');
    assert.equal(l.mode, GO_SYMLINK + 0o777);
    assert.equal(l.linkTarget, '/bin/busybox');
    assert.equal(l.name, 'sh');
    // a trailing slash follows the link
    const followed = await statContainerPath(rootfs, '/data/abslink/');
    assert.equal(followed.mode, GO_DIR + 0o750);
    assert.equal(followed.name, 'abslink');
    const root = await statContainerPath(rootfs, '/');
    assert.equal(root.name, '/');
    assert.ok(root.mode >= GO_DIR);
    const header = JSON.parse(Buffer.from(encodePathStatHeader(f), 'base64').toString());
    assert.deepEqual(Object.keys(header), ['name', 'size', 'mode', 'mtime', 'linkTarget']);
  });

  test('stat errors: missing path is 404 with Docker\'s message, a file used as a directory is 400', async () => {
    await assert.rejects(statContainerPath(rootfs, '/nope', { container: 'c1' }), (err: Error) => {
      assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404)(err);
      assert.equal(err.message, 'Could not find the file /nope in container c1');
      return true;
    });
    await assert.rejects(statContainerPath(rootfs, '/nope/deeper/x'), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404));
    await assert.rejects(statContainerPath(rootfs, '/data/hello.txt/x'), assertCode('BERTH_CONTAINER_PATH_NOT_DIRECTORY', 400));
  });

  test('a directory is archived under its base name with every entry type', async () => {
    const { stat: st, tar } = await getArchive(rootfs, '/data');
    assert.equal(st.name, 'data');
    const entries = await readTarEntries(tar);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(entries.map((e) => e.name), [
      'data/', 'data/.wh.not-a-whiteout', 'data/abslink', 'data/empty', 'data/fifo', 'data/hard', 'data/hello.txt', 'data/link', 'data/null',
      'data/sub/', 'data/sub/deep.txt', 'data/suid',
    ]);
    assert.equal(byName.get('data/hard')!.type, 'file');
    assert.equal(byName.get('data/hello.txt')!.type, 'link', 'second name of a hardlinked file is a link entry');
    assert.equal(byName.get('data/hello.txt')!.linkname, 'data/hard');
    assert.equal(byName.get('data/hard')!.body.toString(), 'hello\n');
    assert.equal(byName.get('data/hard')!.uid, 1);
    assert.equal(byName.get('data/hard')!.gid, 2);
    assert.equal(byName.get('data/link')!.linkname, 'hello.txt');
    assert.equal(byName.get('data/abslink')!.linkname, '/data/sub');
    assert.equal(byName.get('data/fifo')!.type, 'fifo');
    assert.equal(byName.get('data/null')!.type, 'character-device');
    assert.equal(byName.get('data/null')!.devmajor, 1);
    assert.equal(byName.get('data/null')!.devminor, 3);
    assert.equal(byName.get('data/suid')!.mode, 0o4755);
    assert.equal(byName.get('data/sub/')!.mode, 0o750);
    assert.equal(byName.get('data/sub/')!.uid, 1000);
    assert.equal(byName.get('data/sub/deep.txt')!.body.length, 300_000);
    assert.equal(byName.get('data/')!.mtime, T0.getTime() / 1000);
  });

  test('"dir/." archives the contents, a symlink is archived as itself unless the path ends in "/"', async () => {
    const dot = await readTarEntries((await getArchive(rootfs, '/data/sub/.')).tar);
    assert.deepEqual(dot.map((e) => e.name), ['./', './deep.txt']);
    const asLink = await getArchive(rootfs, '/data/abslink');
    const linkEntries = await readTarEntries(asLink.tar);
    assert.deepEqual(linkEntries.map((e) => [e.name, e.type, e.linkname]), [['abslink', 'symlink', '/data/sub']]);
    assert.equal(asLink.stat.linkTarget, '/data/sub');
    const followed = await readTarEntries((await getArchive(rootfs, '/data/abslink/')).tar);
    assert.deepEqual(followed.map((e) => e.name), ['abslink/', 'abslink/deep.txt']);
    const file = await readTarEntries((await getArchive(rootfs, '/data/hello.txt')).tar);
    assert.deepEqual(file.map((e) => [e.name, e.body.toString()]), [['hello.txt', 'hello\n']]);
    await assert.rejects(getArchive(rootfs, '/data/missing'), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404));
  });

  test('archive of "/" names entries from the root', async () => {
    const entries = await readTarEntries((await getArchive(rootfs, '/')).tar);
    assert.equal(entries[0]!.name, '/');
    assert.ok(entries.some((e) => e.name === '/bin/busybox'));
    assert.ok(entries.some((e) => e.name === '/data/sub/deep.txt'));
  });

  test('round trip: archive from one container, extract into another, every entry type and its metadata kept', async () => {
    const other = join(dir, 'other');
    await makeBusyboxRootfs(other);
    await mkdir(join(other, 'dst'));
    const { tar } = await getArchive(rootfs, '/data');
    await putArchive(other, '/dst', tar);
    assert.deepEqual(await describeTree(join(other, 'dst/data')), await describeTree(join(rootfs, 'data')));
    const dst = await lstat(join(other, 'dst/data/.wh.not-a-whiteout'));
    assert.ok(dst.isFile(), '.wh. names are ordinary files for docker cp');
    // "dir/." copies into the destination itself; a gzip stream is accepted too
    const dot = await readAll((await getArchive(rootfs, '/data/sub/.')).tar);
    await mkdir(join(other, 'dot'));
    await putArchive(other, '/dot', Readable.from([gzipSync(dot)]));
    assert.deepEqual(await readdir(join(other, 'dot')), ['deep.txt']);
  });

  test('extract into a symlink that points at a directory follows it inside the rootfs', async () => {
    const other = join(dir, 'symdest');
    await makeBusyboxRootfs(other);
    await mkdir(join(other, 'real'));
    await symlink('/real', join(other, 'via'));
    await putArchive(other, '/via', Readable.from([await makeTar([{ name: 'f', body: 'x' }])]));
    assert.equal(await readFile(join(other, 'real/f'), 'utf8'), 'x');
  });

  test('extract errors as Docker gives them: 404 missing destination, 400 not a directory, no dir/non-dir overwrite', async () => {
    const other = join(dir, 'errs');
    await makeBusyboxRootfs(other);
    await mkdir(join(other, 'dst/sub'), { recursive: true });
    await writeFile(join(other, 'dst/file'), 'keep');
    const tarOf = async (entries: Parameters<typeof makeTar>[0]) => Readable.from([await makeTar(entries)]);
    await assert.rejects(putArchive(other, '/missing', await tarOf([{ name: 'a', body: 'a' }]), { container: 'web' }), (err: Error) => {
      assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404)(err);
      assert.equal(err.message, 'Could not find the file /missing in container web');
      return true;
    });
    await assert.rejects(putArchive(other, '/dst/file', await tarOf([{ name: 'a', body: 'a' }])), (err: Error) => {
      assertCode('BERTH_CONTAINER_NOT_A_DIRECTORY', 400)(err);
      assert.match(err.message, /extraction point is not a directory/);
      return true;
    });
    await assert.rejects(putArchive(other, '/dst', await tarOf([{ name: 'sub', body: 'x' }]), { noOverwriteDirNonDir: true }), (err: Error) => {
      assertCode('BERTH_CONTAINER_ARCHIVE_OVERWRITE', 400)(err);
      assert.match(err.message, /cannot overwrite directory "\/dst\/sub" with non-directory "sub"/);
      return true;
    });
    await assert.rejects(putArchive(other, '/dst', await tarOf([{ name: 'file', type: 'directory' }]), { noOverwriteDirNonDir: true }),
      (err: Error) => assertCode('BERTH_CONTAINER_ARCHIVE_OVERWRITE', 400)(err) && /cannot overwrite non-directory/.test(err.message));
    assert.ok((await stat(join(other, 'dst/sub'))).isDirectory(), 'refused overwrite left the directory');
    assert.equal(await readFile(join(other, 'dst/file'), 'utf8'), 'keep');
    // A directory replaced by a file mid-archive: what follows "inside" it is refused, not written into the removed directory.
    await assert.rejects(
      putArchive(other, '/dst', await tarOf([{ name: 'r/', type: 'directory' }, { name: 'r/x', body: 'x' }, { name: 'r', body: 'now a file' }, { name: 'r/y', body: 'y' }])),
      (err: Error) => assertCode('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', 400)(err) && /\/dst\/r is not a directory/.test(err.message),
    );
    assert.equal(await readFile(join(other, 'dst/r'), 'utf8'), 'now a file');
    // without the flag, Docker replaces
    await putArchive(other, '/dst', await tarOf([{ name: 'file', type: 'directory' }]));
    assert.ok((await stat(join(other, 'dst/file'))).isDirectory());
    // bad tar
    await assert.rejects(putArchive(other, '/dst', Readable.from([Buffer.alloc(1024, 0x41)])), assertCode('BERTH_ARCHIVE_CORRUPT', 400));
    // A refused entry mid-stream: the source (an HTTP request in berthd) is drained, not destroyed, so the answer can still be sent.
    const big = await makeTar([{ name: '../escape', body: 'x' }, { name: 'after', body: Buffer.alloc(2_000_000, 1) }]);
    const source = Readable.from([big.subarray(0, 4096), big.subarray(4096)]);
    await assert.rejects(putArchive(other, '/dst', source), assertCode('BERTH_CONTAINER_ARCHIVE_UNSAFE_PATH', 400));
    await new Promise<void>((resolve) => (source.readableEnded ? resolve() : source.once('end', () => resolve())));
    assert.equal(source.destroyed === false || source.readableEnded, true);
    await assert.rejects(lstat(join(other, 'dst/after')), { code: 'ENOENT' }, 'nothing after the refused entry was extracted');
  });

  test('copyUIDGID owns the files by the container user', async () => {
    const other = join(dir, 'owner');
    await makeBusyboxRootfs(other);
    await putArchive(other, '/tmp', Readable.from([await makeTar([{ name: 'd/', type: 'directory', uid: 5 }, { name: 'd/f', body: 'x', uid: 7, gid: 8 }, { name: 'n/e/w', body: 'y' }])]),
      { copyUIDGID: true, user: 'nobody' });
    for (const p of ['tmp/d', 'tmp/d/f', 'tmp/n', 'tmp/n/e', 'tmp/n/e/w']) {
      const st = await lstat(join(other, p));
      assert.deepEqual([p, st.uid, st.gid], [p, 65534, 65534]);
    }
    await putArchive(other, '/tmp', Readable.from([await makeTar([{ name: 'g', body: 'x', uid: 7, gid: 8 }])]));
    const st = await lstat(join(other, 'tmp/g'));
    assert.deepEqual([st.uid, st.gid], [7, 8], 'without -a the archive owners are kept');
  });
});

describe('docker cp cannot reach the host through symlinks', () => {
  let dir: string;
  let rootfs: string;
  let sentinel: string;
  let sentinelListing: string[];
  before(async () => {
    dir = await makeTempDir('berth-cp-escape-');
    rootfs = join(dir, 'rootfs');
    sentinel = join(dir, 'host-sentinel');
    await mkdir(sentinel);
    await writeFile(join(sentinel, 'secret'), 'host secret\n');
    await makeBusyboxRootfs(rootfs);
    // Links a container could plant, pointing at the host directory by its host path and by climbing.
    await symlink(sentinel, join(rootfs, 'abs-escape'));
    await symlink('../../../../../../../../..' + sentinel, join(rootfs, 'tmp/rel-escape'));
    await symlink('/', join(rootfs, 'tmp/rootlink'));
    sentinelListing = await describeTree(sentinel);
  });
  after(async () => {
    await removeTempDir(dir);
  });

  async function assertSentinelUntouched(): Promise<void> {
    assert.deepEqual(await describeTree(sentinel), sentinelListing);
    assert.equal(await readFile(join(sentinel, 'secret'), 'utf8'), 'host secret\n');
  }

  test('reading through the links finds nothing of the host', async () => {
    for (const p of ['/abs-escape/', '/abs-escape/secret', '/tmp/rel-escape/secret', '/tmp/rel-escape/', `/tmp/rootlink${sentinel}/secret`]) {
      await assert.rejects(getArchive(rootfs, p), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404), p);
      await assert.rejects(statContainerPath(rootfs, p), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404), p);
    }
    // the link itself can be archived, as a link
    const entries = await readTarEntries((await getArchive(rootfs, '/abs-escape')).tar);
    assert.deepEqual(entries.map((e) => [e.name, e.type, e.linkname]), [['abs-escape', 'symlink', sentinel]]);
    // the link target is reported inside the container
    assert.equal((await statContainerPath(rootfs, '/tmp/rel-escape')).linkTarget, sentinel);
    await assertSentinelUntouched();
  });

  test('the whole rootfs archived holds no host file', async () => {
    const entries = await readTarEntries((await getArchive(rootfs, '/')).tar);
    assert.ok(!entries.some((e) => e.body.toString().includes('host secret')));
  });

  test('writing through the links lands inside the rootfs or is refused, never on the host', async () => {
    const payload = async () => Readable.from([await makeTar([{ name: 'pwned', body: 'x' }])]);
    await assert.rejects(putArchive(rootfs, '/abs-escape', await payload()), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404));
    await assert.rejects(putArchive(rootfs, '/tmp/rel-escape', await payload()), assertCode('BERTH_CONTAINER_PATH_NOT_FOUND', 404));
    await assertSentinelUntouched();

    // An archive that plants its own link to the host and then writes through it.
    const hostile = await makeTar([
      { name: 'evil', type: 'symlink', linkname: sentinel },
      { name: 'evil/pwned', body: 'x' },
      { name: 'climb', type: 'symlink', linkname: '../../../../../../../..' + sentinel },
      { name: 'climb/pwned2', body: 'y' },
    ]);
    await putArchive(rootfs, '/tmp', Readable.from([hostile]));
    await assertSentinelUntouched();
    // The writes went where the links lead inside the container.
    assert.equal(await readFile(join(rootfs, sentinel, 'pwned'), 'utf8'), 'x');
    assert.equal(await readFile(join(rootfs, sentinel, 'pwned2'), 'utf8'), 'y');

    // Entries that climb out of the destination and hardlinks to outside it are refused.
    for (const bad of [
      [{ name: '../../../../../../../../..' + sentinel + '/pwned3', body: 'z' }],
      [{ name: 'h', type: 'link' as const, linkname: '../../../../../../../..' + sentinel + '/secret' }],
    ]) {
      await assert.rejects(putArchive(rootfs, '/tmp', Readable.from([await makeTar(bad)])), assertCode('BERTH_CONTAINER_ARCHIVE_UNSAFE_PATH', 400));
    }
    // A hardlink through a planted symlink links the container's own file, not the host's.
    await assert.rejects(
      putArchive(rootfs, '/tmp', Readable.from([await makeTar([{ name: 'h2', type: 'link', linkname: 'evil/secret' }])])),
      assertCode('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', 400),
    );
    await assertSentinelUntouched();
    assert.equal((await stat(join(sentinel, 'secret'))).nlink, 1);
  });
});
