import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { readTar, writeTar, type TarHeader, type TarWriteEntry } from '../../../src/archive/tar.ts';
import { isBerthError } from '../../../src/common/errors.ts';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Array<{ header: TarHeader; body: Buffer }>> {
  const out: Array<{ header: TarHeader; body: Buffer }> = [];
  for await (const e of readTar(source)) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    out.push({ header: e.header, body: Buffer.concat(chunks) });
  }
  return out;
}

async function bytesOf(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

/** Feed a buffer in awkward chunk sizes to exercise the reader's buffering. */
function chunked(buf: Buffer, size: number): AsyncIterable<Buffer> {
  return (async function* () {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  })();
}

const h = (over: Partial<TarHeader> & { name: string }): TarWriteEntry['header'] => ({
  type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, linkname: '', devmajor: 0, devminor: 0, ...over,
});

describe('tar reader', () => {
  let dir: string;
  before(async () => { dir = await makeTempDir('berth-tar-'); });
  after(async () => { await removeTempDir(dir); });

  test('reads GNU tar output: long names, long link targets, symlinks, dirs, bodies', async () => {
    const src = join(dir, 'src');
    const longDir = 'd'.repeat(120);
    await mkdir(join(src, longDir), { recursive: true });
    await writeFile(join(src, longDir, 'f'.repeat(110)), 'long');
    await symlink('t'.repeat(150), join(src, 'longlink'));
    await writeFile(join(src, 'small'), 'small');
    for (const format of ['gnu', 'posix', 'ustar']) {
      const tarPath = join(dir, `${format}.tar`);
      try {
        execFileSync('tar', ['--format', format, '-C', src, '-cf', tarPath, '.'], { stdio: 'pipe' });
      } catch {
        continue; // ustar cannot hold these names: GNU tar refuses; that is fine
      }
      const entries = await collect(chunked(await readFile(tarPath), 333));
      const byName = new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ''), e]));
      assert.equal(byName.get(`${longDir}/${'f'.repeat(110)}`)?.body.toString(), 'long', format);
      assert.equal(byName.get('longlink')?.header.type, 'symlink');
      assert.equal(byName.get('longlink')?.header.linkname, 't'.repeat(150));
      assert.equal(byName.get(`${longDir}/`)?.header.type, 'dir');
      assert.equal(byName.get('small')?.body.toString(), 'small');
    }
  });

  test('reads tar-stream output with PAX xattrs and unread bodies are skipped', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'a', pax: { 'SCHILY.xattr.user.k': 'v' } } as tar.Header, 'aaaa');
    pack.entry({ name: 'b', size: 70000 } as tar.Header, Buffer.alloc(70000, 2));
    pack.entry({ name: 'c' }, 'c');
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const c of pack) parts.push(c as Buffer);
    const buf = Buffer.concat(parts);
    const names: string[] = [];
    for await (const e of readTar(chunked(buf, 1000))) {
      names.push(e.header.name);
      if (e.header.name === 'a') assert.equal(e.header.xattrs.get('user.k')?.toString(), 'v');
      if (e.header.name === 'c') { const got: Buffer[] = []; for await (const c of e.body) got.push(c); assert.equal(Buffer.concat(got).toString(), 'c'); }
    }
    assert.deepEqual(names, ['a', 'b', 'c']);
  });

  test('corrupt input is BERTH_ARCHIVE_CORRUPT, unknown entry types are refused', async () => {
    await assert.rejects(collect(chunked(Buffer.alloc(1024, 0x41), 512)), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_CORRUPT'));
    const good = await bytesOf(writeTar([{ header: h({ name: 'f', size: 4000 }), body: [Buffer.alloc(4000)] }]));
    await assert.rejects(collect(chunked(good.subarray(0, 1500), 100)), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_CORRUPT') && /truncated/.test((e as Error).message));
    const sparse = Buffer.from(good);
    sparse[156] = 'S'.charCodeAt(0);
    let sum = 0;
    sparse.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += sparse[i]!;
    sparse.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    await assert.rejects(collect(chunked(sparse, 512)), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_UNSUPPORTED_ENTRY'));
  });
});

describe('tar writer', () => {
  let dir: string;
  before(async () => { dir = await makeTempDir('berth-tarw-'); });
  after(async () => { await removeTempDir(dir); });

  const binary = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0xff, 0xfe, 0x80]);
  const entries: TarWriteEntry[] = [
    { header: h({ name: 'dir/', type: 'dir', mode: 0o1777 }) },
    { header: h({ name: 'dir/file', size: 5, mode: 0o4755, uid: 1000, gid: 3000000, xattrs: new Map([['security.capability', binary], ['user.a', Buffer.from('b')]]) }), body: [Buffer.from('hello')] },
    { header: h({ name: `${'x'.repeat(90)}/${'y'.repeat(90)}/${'z'.repeat(120)}`, size: 1 }), body: [Buffer.from('z')] },
    { header: h({ name: 'sym', type: 'symlink', linkname: 'l'.repeat(200) }) },
    { header: h({ name: 'hard', type: 'link', linkname: 'dir/file' }) },
    { header: h({ name: 'null', type: 'char', devmajor: 1, devminor: 3 }) },
  ];

  test('round trips through berth\'s reader with binary xattrs intact', async () => {
    const buf = await bytesOf(writeTar(entries));
    assert.equal(buf.length % 512, 0);
    const back = await collect(chunked(buf, 77));
    assert.deepEqual(back.map((e) => e.header.name), entries.map((e) => e.header.name));
    const file = back[1]!;
    assert.equal(file.body.toString(), 'hello');
    assert.equal(file.header.mode, 0o4755);
    assert.equal(file.header.gid, 3000000, 'ids past 7 octal digits go through PAX');
    assert.ok(file.header.xattrs.get('security.capability')!.equals(binary), 'binary xattr value intact');
    assert.equal(back[3]!.header.linkname, 'l'.repeat(200));
    assert.equal(back[4]!.header.type, 'link');
    assert.equal(back[5]!.header.devminor, 3);
    assert.equal(back[0]!.header.mode, 0o1777);
  });

  test('GNU tar lists and extracts what it writes', async () => {
    const tarPath = join(dir, 'w.tar');
    await writeFile(tarPath, await bytesOf(writeTar(entries.filter((e) => e.header.type !== 'char'))));
    const listing = execFileSync('tar', ['-tvf', tarPath], { encoding: 'utf8' });
    assert.match(listing, /dir\/file/);
    assert.match(listing, /z{120}/);
    const out = join(dir, 'x');
    await mkdir(out);
    execFileSync('tar', ['-C', out, '-xf', tarPath]);
    assert.equal(await readFile(join(out, 'dir/file'), 'utf8'), 'hello');
  });

  test('a body that does not match the announced size is an error', async () => {
    await assert.rejects(bytesOf(writeTar([{ header: h({ name: 'f', size: 10 }), body: [Buffer.from('short')] }])), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_WRITE'));
    await assert.rejects(bytesOf(writeTar([{ header: h({ name: 'f', size: 2 }), body: Readable.from([Buffer.from('long')]) }])), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_WRITE'));
  });
});

test('base-256 numbers: large sizes and ids, pre-1970 mtimes; negative sizes refused', async () => {
  const block = Buffer.from((await bytesOf(writeTar([{ header: h({ name: 'f', size: 0 }) }]))).subarray(0, 512));
  const setField = (b: Buffer, start: number, len: number, value: bigint) => {
    const bytes = Buffer.alloc(len);
    let v = BigInt.asUintN(8 * len, value);
    for (let i = len - 1; i >= 0; i--) { bytes[i] = Number(v & 0xffn); v >>= 8n; }
    bytes[0] = (bytes[0]! & 0x7f) | 0x80;
    bytes.copy(b, start);
  };
  const reseal = (b: Buffer) => {
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += b[i]!;
    b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    return b;
  };
  const b1 = Buffer.from(block);
  setField(b1, 108, 8, 5000000000n); // uid
  setField(b1, 136, 12, -86400n); // mtime: 1969-12-31
  const [e] = await collect(chunked(Buffer.concat([reseal(b1), Buffer.alloc(1024)]), 512));
  assert.equal(e!.header.uid, 5000000000);
  assert.equal(e!.header.mtime, -86400);
  const b2 = Buffer.from(block);
  setField(b2, 124, 12, -5n); // size
  await assert.rejects(collect(chunked(Buffer.concat([reseal(b2), Buffer.alloc(1024)]), 512)), (err: unknown) => isBerthError(err, 'BERTH_ARCHIVE_CORRUPT'));
});
