import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, lstat, readlink, readFile, readdir, writeFile, stat, symlink } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { zstdCompressSync } from 'node:zlib';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, unmountUnder } from '../../helpers/tmp.ts';
import { applyLayer, unpackLayer, finishLayer } from '../../../src/snapshot/apply.ts';
import { getXattr, isOpaqueDir } from '../../../src/snapshot/fs-util.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { makeTar, sha256, streamOf, gz, T0, describeTree, type FixtureEntry } from './fixtures.ts';

let root: string;
let n = 0;
before(async () => { root = await makeTempDir('berth-apply-'); });
after(async () => { await removeTempDir(root); });

async function freshDir(name = 'd'): Promise<string> {
  const dir = join(root, `${name}-${n++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

const everyType: FixtureEntry[] = [
  { name: 'etc/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001 },
  { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
  { name: 'bin/', type: 'directory' },
  { name: 'bin/su', body: 'ELF-ish', mode: 0o4755, uid: 0, gid: 0 },
  { name: 'bin/sg', body: 'sgid', mode: 0o2711, uid: 0, gid: 42 },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  { name: 'bin/abs', type: 'symlink', linkname: '/etc/shadow-that-does-not-matter' },
  { name: 'bin/su-hard', type: 'link', linkname: 'bin/su' },
  { name: 'dev/', type: 'directory' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 5, gid: 6 },
  { name: 'data/x', body: 'with xattr', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.trusted.overlay.redirect': '/evil' } },
  { name: 'data/big', body: Buffer.alloc(3 * 1024 * 1024 + 17, 7) },
  { name: './dotted/../deep/a/b/c.txt', body: 'deep' },
];

describe('applyLayer: every entry type with its metadata', () => {
  let dir: string;
  let tarBytes: Buffer;
  before(async () => {
    tarBytes = await makeTar(everyType);
    dir = await freshDir('types');
    const res = await applyLayer(streamOf(gz(tarBytes)), { target: dir, whiteouts: 'delete', layer: 'L-types' });
    assert.equal(res.diffId, sha256(tarBytes), 'diffID is the sha256 of the uncompressed tar');
    assert.equal(res.compression, 'gzip');
    assert.equal(res.size, tarBytes.length);
  });

  test('dirs, files, modes incl. setuid/setgid/sticky, owners, mtimes', async () => {
    const etc = await lstat(join(dir, 'etc'));
    assert.ok(etc.isDirectory());
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.uid, 1000);
    assert.equal(etc.gid, 1001);
    assert.equal(etc.mtimeMs, T0.getTime(), 'dir mtime set after its children were written');
    const su = await lstat(join(dir, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal(su.mtimeMs, T0.getTime());
    assert.equal((await lstat(join(dir, 'bin/sg'))).mode & 0o7777, 0o2711);
    assert.equal((await lstat(join(dir, 'bin/sg'))).gid, 42);
    assert.equal((await lstat(join(dir, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal(await readFile(join(dir, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    const big = await readFile(join(dir, 'data/big'));
    assert.equal(big.length, 3 * 1024 * 1024 + 17);
    assert.ok(big.every((b) => b === 7));
    assert.equal(await readFile(join(dir, 'deep/a/b/c.txt'), 'utf8'), 'deep');
    assert.equal((await lstat(join(dir, 'deep/a'))).mode & 0o7777, 0o755, 'implied parent dirs are 0755');
  });

  test('symlinks are created as-is (absolute targets not rewritten), hardlinks share the inode', async () => {
    assert.equal(await readlink(join(dir, 'bin/sh')), 'busybox');
    assert.equal(await readlink(join(dir, 'bin/abs')), '/etc/shadow-that-does-not-matter');
    assert.equal((await lstat(join(dir, 'bin/abs'))).mtimeMs, T0.getTime());
    const a = await lstat(join(dir, 'bin/su'));
    const b = await lstat(join(dir, 'bin/su-hard'));
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 2);
  });

  test('device nodes and fifos with numbers, modes and owners', async () => {
    const nul = await lstat(join(dir, 'dev/null'));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666);
    const loop = await lstat(join(dir, 'dev/loop9'));
    assert.ok(loop.isBlockDevice());
    assert.equal(loop.rdev, (7 << 8) | 9);
    assert.equal(loop.gid, 6);
    const fifo = await lstat(join(dir, 'run/fifo'));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o620);
    assert.equal(fifo.uid, 5);
    assert.equal(fifo.mtimeMs, T0.getTime());
  });

  test('xattrs from PAX SCHILY.xattr.*, but never overlayfs control xattrs', async () => {
    assert.equal((await getXattr(join(dir, 'data/x'), 'user.note'))?.toString(), 'hello');
    assert.equal(await getXattr(join(dir, 'data/x'), 'trusted.overlay.redirect'), null);
  });

  test('uncompressed and zstd layers give the same tree and the same diffID', async () => {
    const d1 = await freshDir('plain');
    const d2 = await freshDir('zstd');
    const r1 = await applyLayer(streamOf(tarBytes), { target: d1, whiteouts: 'delete' });
    const r2 = await applyLayer(streamOf(zstdCompressSync(tarBytes)), { target: d2, whiteouts: 'delete' });
    assert.equal(r1.compression, 'none');
    assert.equal(r2.compression, 'zstd');
    assert.equal(r1.diffId, sha256(tarBytes));
    assert.equal(r2.diffId, sha256(tarBytes));
    // implied parent dirs get the time of the unpack: compare without mtimes (checked above)
    assert.deepEqual(await describeTree(d1, { mtimes: false }), await describeTree(dir, { mtimes: false }));
    assert.deepEqual(await describeTree(d2, { mtimes: false }), await describeTree(dir, { mtimes: false }));
  });

  test('a real layer made by GNU tar (busybox rootfs) unpacks to the same tree', async () => {
    const src = await freshDir('bbsrc');
    execFileSync('sh', ['-c', `mkdir -p ${src}/bin ${src}/etc && cp /bin/busybox ${src}/bin/ && ln -s busybox ${src}/bin/sh && echo hi > ${src}/etc/motd && mkfifo ${src}/etc/fifo && chown 12:34 ${src}/etc/motd && chmod 4755 ${src}/bin/busybox`]);
    const tarPath = join(root, `bb-${n++}.tar`);
    execFileSync('tar', ['--numeric-owner', '--xattrs', '-C', src, '-cf', tarPath, '.']);
    const dst = await freshDir('bbdst');
    const bytes = await readFile(tarPath);
    const res = await applyLayer(streamOf(bytes), { target: dst, whiteouts: 'delete' });
    assert.equal(res.diffId, sha256(bytes));
    assert.deepEqual(await describeTree(dst), await describeTree(src));
  });
});

describe('applyLayer: whiteouts and opaque dirs across three layers', () => {
  const l1: FixtureEntry[] = [
    { name: 'a/', type: 'directory', mode: 0o711 },
    { name: 'a/1', body: 'a1' },
    { name: 'a/2', body: 'a2' },
    { name: 'b/', type: 'directory' },
    { name: 'b/1', body: 'b1' },
    { name: 'c', body: 'c-old' },
    { name: 'd', body: 'd' },
    { name: 'keep/deeper/x', body: 'x' },
  ];
  const l2: FixtureEntry[] = [
    { name: '.wh.c' },
    { name: 'a/.wh..wh..opq' },
    { name: 'a/3', body: 'a3' },
    { name: 'e', body: 'e' },
    { name: 'b/2', body: 'b2' },
    { name: 'keep/deeper/y', body: 'y' },
  ];
  const l3: FixtureEntry[] = [
    { name: '.wh.b' },
    { name: 'c', body: 'c-new' },
    { name: 'a/.wh.3' },
    { name: 'keep/.wh.nothing-there' },
  ];
  const expected = ['a', 'a/<empty>', 'c=c-new', 'd=d', 'e=e', 'keep', 'keep/deeper', 'keep/deeper/x=x', 'keep/deeper/y=y'];

  async function listing(dir: string): Promise<string[]> {
    const out: string[] = [];
    async function walk(rel: string) {
      const names = (await readdir(join(dir, rel))).sort();
      if (names.length === 0 && rel) out.push(`${rel}/<empty>`);
      for (const name of names) {
        const r = rel ? `${rel}/${name}` : name;
        const st = await lstat(join(dir, r));
        if (st.isDirectory()) { out.push(r); await walk(r); } else out.push(`${r}=${await readFile(join(dir, r), 'utf8')}`);
      }
    }
    await walk('');
    return out;
  }

  test('copying mode (whiteouts delete) gives the merged tree', async () => {
    const dir = await freshDir('merged');
    for (const l of [l1, l2, l3]) await applyLayer(streamOf(await makeTar(l)), { target: dir, whiteouts: 'delete' });
    assert.deepEqual(await listing(dir), expected);
    assert.equal((await lstat(join(dir, 'a'))).mode & 0o7777, 0o711);
  });

  test('overlay mode: layers unpacked independently (top first), mounted as overlay lowerdirs', async (t) => {
    const dirs = [await freshDir('ov1'), await freshDir('ov2'), await freshDir('ov3')];
    // Unpack out of order, as a pull that finishes the top layer first would; finish bottom-up.
    const results = await Promise.all([l3, l2, l1].map(async (l, i) => unpackLayer(streamOf(await makeTar(l)), { target: dirs[2 - i]!, whiteouts: 'overlay' })));
    const [r3, r2, r1] = results;
    await finishLayer(r1!.pending, []);
    await finishLayer(r2!.pending, [dirs[0]!]);
    await finishLayer(r3!.pending, [dirs[1]!, dirs[0]!]);
    const wh = await lstat(join(dirs[1]!, 'c'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device in the layer dir');
    assert.ok(await isOpaqueDir(join(dirs[1]!, 'a')), 'opaque dir carries trusted.overlay.opaque=y');
    assert.equal((await lstat(join(dirs[1]!, 'keep'))).mode & 0o7777, 0o755);
    const mnt = await freshDir('mnt');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${dirs[2]}:${dirs[1]}:${dirs[0]}`, mnt]);
    t.after(() => unmountUnder(mnt));
    try {
      assert.deepEqual(await listing(mnt), expected);
      assert.equal((await lstat(join(mnt, 'a'))).mode & 0o7777, 0o711, 'implied dirs keep the lower dir mode');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('applyLayer: a whiteout and an entry for the same path in one layer', () => {
  // OCI: the whiteout hides the lower layers only; the layer's own entry stays, alone.
  const lower: FixtureEntry[] = [{ name: 'a/', type: 'directory' }, { name: 'a/old', body: 'old' }, { name: 'f', body: 'old-f' }];
  const variants: Record<string, FixtureEntry[]> = {
    'whiteout first': [{ name: '.wh.a' }, { name: 'a/', type: 'directory' }, { name: 'a/new', body: 'new' }, { name: '.wh.f' }, { name: 'f', body: 'new-f' }],
    'entry first': [{ name: 'a/', type: 'directory' }, { name: 'a/new', body: 'new' }, { name: '.wh.a' }, { name: 'f', body: 'new-f' }, { name: '.wh.f' }],
    'implied dir after whiteout': [{ name: '.wh.a' }, { name: 'a/new', body: 'new' }, { name: 'f', body: 'new-f' }],
  };
  for (const [label, upper] of Object.entries(variants)) {
    test(`${label}: copy and overlay agree`, async (t) => {
      const merged = await freshDir('same');
      await applyLayer(streamOf(await makeTar(lower)), { target: merged, whiteouts: 'delete' });
      await applyLayer(streamOf(await makeTar(upper)), { target: merged, whiteouts: 'delete' });
      assert.deepEqual((await readdir(join(merged, 'a'))).sort(), ['new']);
      assert.equal(await readFile(join(merged, 'f'), 'utf8'), 'new-f');

      const l1 = await freshDir('same-l1');
      const l2 = await freshDir('same-l2');
      await applyLayer(streamOf(await makeTar(lower)), { target: l1, whiteouts: 'overlay' });
      await applyLayer(streamOf(await makeTar(upper)), { target: l2, whiteouts: 'overlay', lowers: [l1] });
      const mnt = await freshDir('same-mnt');
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${l2}:${l1}`, mnt]);
      t.after(() => unmountUnder(mnt));
      try {
        assert.deepEqual((await readdir(join(mnt, 'a'))).sort(), ['new']);
        assert.equal(await readFile(join(mnt, 'f'), 'utf8'), 'new-f');
      } finally {
        execFileSync('umount', [mnt]);
      }
    });
  }
});

describe('applyLayer: path escapes are refused and nothing is written outside', () => {
  let sentinel: string;
  let outside: string;
  before(async () => {
    sentinel = join(root, 'sentinel');
    outside = join(root, 'outside');
    await mkdir(sentinel);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'secret');
  });
  async function assertOutsideUntouched(): Promise<void> {
    assert.deepEqual(await readdir(sentinel), [], 'sentinel dir outside the target stays empty');
    assert.deepEqual(await readdir(outside), ['secret']);
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
    assert.equal((await stat(join(outside, 'secret'))).nlink, 1, 'no hardlink to the outside file');
  }
  async function refused(entries: FixtureEntry[], code: string, mode: 'delete' | 'overlay' = 'delete', target?: string): Promise<string> {
    const dir = target ?? (await freshDir('evil'));
    await assert.rejects(applyLayer(streamOf(await makeTar(entries)), { target: dir, whiteouts: mode, layer: 'sha256:evil' }), (err: unknown) => {
      assert.ok(isBerthError(err, code), `expected ${code}, got ${String(err)}`);
      assert.match((err as Error).message, /sha256:evil/, 'the error names the layer');
      return true;
    });
    await assertOutsideUntouched();
    return dir;
  }
  const rel = (p: string) => `../${p}`;

  for (const mode of ['delete', 'overlay'] as const) {
    test(`[${mode}] "../" that climbs out`, async () => {
      await refused([{ name: rel('sentinel/x'), body: 'x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'a/../../sentinel/x', body: 'x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'x', type: 'symlink', linkname: 'y' }, { name: '../sentinel/.wh.x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
    });

    test(`[${mode}] symlink parent in the same layer (relative, absolute, chains)`, async () => {
      await refused([{ name: 'l', type: 'symlink', linkname: rel('sentinel') }, { name: 'l/x', body: 'x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'l', type: 'symlink', linkname: sentinel }, { name: 'l/x', body: 'x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([
        { name: 'a', type: 'symlink', linkname: 'b' },
        { name: 'b', type: 'symlink', linkname: `../../${sentinel.split('/').pop()}` },
        { name: 'a/x', body: 'x' },
      ], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/tmp/x', type: 'directory' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      // even a symlink that points inside is not followed
      await refused([{ name: 'real/', type: 'directory' }, { name: 'l', type: 'symlink', linkname: 'real' }, { name: 'l/x', body: 'x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
    });

    test(`[${mode}] whiteout and opaque through a symlink parent`, async () => {
      await refused([{ name: 'l', type: 'symlink', linkname: outside }, { name: 'l/.wh.secret' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'l', type: 'symlink', linkname: outside }, { name: 'l/.wh..wh..opq' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
    });

    test(`[${mode}] hardlinks to outside, through a symlink`, async () => {
      await refused([{ name: 'h', type: 'link', linkname: rel('outside/secret') }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
      await refused([{ name: 'l', type: 'symlink', linkname: outside }, { name: 'h', type: 'link', linkname: 'l/secret' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode);
    });
  }

  test('absolute entry paths are rebased inside the target', async () => {
    const dir = await freshDir('abs');
    await applyLayer(streamOf(await makeTar([{ name: `${sentinel}/x`, body: 'x' }, { name: '/etc/y', body: 'y' }])), { target: dir, whiteouts: 'delete' });
    assert.equal(await readFile(join(dir, sentinel, 'x'), 'utf8'), 'x');
    assert.equal(await readFile(join(dir, 'etc/y'), 'utf8'), 'y');
    await assertOutsideUntouched();
  });

  test('a file entry over an existing symlink replaces the symlink instead of writing through it', async () => {
    const dir = await freshDir('replace');
    await applyLayer(streamOf(await makeTar([
      { name: 'f', type: 'symlink', linkname: join(sentinel, 'f') },
      { name: 'f', body: 'inside' },
    ])), { target: dir, whiteouts: 'delete' });
    assert.ok((await lstat(join(dir, 'f'))).isFile());
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'inside');
    await assertOutsideUntouched();
  });

  test('[delete] symlink in a lower layer, then a file through it in the next layer', async () => {
    const dir = await freshDir('lower');
    await applyLayer(streamOf(await makeTar([{ name: 'etc', type: 'symlink', linkname: sentinel }])), { target: dir, whiteouts: 'delete' });
    await refused([{ name: 'etc/passwd', body: 'pwned' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', 'delete', dir);
    await refused([{ name: 'etc/.wh.x' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', 'delete', dir);
  });

  for (const mode of ['delete', 'overlay'] as const) {
    test(`[${mode}] a target that already holds a symlink is not written through`, async () => {
      const dir = await freshDir('planted');
      await symlink(sentinel, join(dir, 'etc'));
      await refused([{ name: 'etc/passwd', body: 'pwned' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode, dir);
      await refused([{ name: 'etc/sub/', type: 'directory' }], 'BERTH_SNAPSHOT_UNSAFE_PATH', mode, dir);
      // an entry at the symlink itself replaces it
      await applyLayer(streamOf(await makeTar([{ name: 'etc', body: 'file now' }])), { target: dir, whiteouts: mode });
      assert.equal(await readFile(join(dir, 'etc'), 'utf8'), 'file now');
      await assertOutsideUntouched();
    });
  }

  test('[overlay] symlink in a lower layer, then a file through it in the next layer', async () => {
    const lower = await freshDir('ovlower');
    await applyLayer(streamOf(await makeTar([{ name: 'usr/', type: 'directory' }, { name: 'usr/etc', type: 'symlink', linkname: sentinel }])), { target: lower, whiteouts: 'overlay' });
    const upper = await freshDir('ovupper');
    const r = await unpackLayer(streamOf(await makeTar([{ name: 'usr/etc/passwd', body: 'pwned' }])), { target: upper, whiteouts: 'overlay', layer: 'sha256:evil' });
    await assert.rejects(finishLayer(r.pending, [lower]), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_UNSAFE_PATH') && /usr\/etc/.test((err as Error).message));
    await assertOutsideUntouched();
    // replacing the symlink with a real directory entry is a legitimate change
    const upper2 = await freshDir('ovupper2');
    await applyLayer(streamOf(await makeTar([{ name: 'usr/etc/', type: 'directory' }, { name: 'usr/etc/passwd', body: 'ok' }])), { target: upper2, whiteouts: 'overlay', lowers: [lower] });
    assert.equal(await readFile(join(upper2, 'usr/etc/passwd'), 'utf8'), 'ok');
  });

  test('[overlay] a hardlink to a file of a lower layer becomes a copy with its metadata', async () => {
    const lower = await freshDir('hl-lower');
    await applyLayer(streamOf(await makeTar([{ name: 'bin/tool', body: 'tool', mode: 0o4750, uid: 3, gid: 4 }])), { target: lower, whiteouts: 'overlay' });
    const upper = await freshDir('hl-upper');
    await applyLayer(streamOf(await makeTar([{ name: 'bin/tool2', type: 'link', linkname: 'bin/tool' }])), { target: upper, whiteouts: 'overlay', lowers: [lower] });
    const st = await lstat(join(upper, 'bin/tool2'));
    assert.equal(await readFile(join(upper, 'bin/tool2'), 'utf8'), 'tool');
    assert.equal(st.mode & 0o7777, 0o4750);
    assert.equal(st.uid, 3);
  });

  test('corrupt and truncated streams are clear errors', async () => {
    const good = await makeTar([{ name: 'f', body: Buffer.alloc(5000, 1) }]);
    const dir = await freshDir('trunc');
    await assert.rejects(applyLayer(streamOf(good.subarray(0, 2000)), { target: dir, whiteouts: 'delete' }), (err: unknown) => isBerthError(err, 'BERTH_ARCHIVE_CORRUPT'));
    await assert.rejects(applyLayer(streamOf(gz(good).subarray(0, 100)), { target: await freshDir('trunc'), whiteouts: 'delete' }), (err: unknown) => isBerthError(err, 'BERTH_ARCHIVE_CORRUPT'));
    await assert.rejects(applyLayer(streamOf(Buffer.from('this is not a tar file at all'.repeat(40))), { target: await freshDir('trunc'), whiteouts: 'delete' }), (err: unknown) => isBerthError(err, 'BERTH_ARCHIVE_CORRUPT'));
  });
});
