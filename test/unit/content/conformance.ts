import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import type { BlobInfo, ContentStore, Digest } from '../../../src/content/types.ts';

/**
 * The behaviour every ContentStore must have, as one suite that takes a
 * factory (as containerd's content testsuite does). Run it against each
 * implementation: `contentStoreConformance('local', (dir) => LocalContentStore.open(dir))`.
 */
export type ContentStoreFactory = (dir: string) => Promise<ContentStore>;

export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function listAll(store: ContentStore): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of store.list()) out.push(b);
  return out.sort((a, b) => a.digest.localeCompare(b.digest));
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: { code?: string }) => {
    assert.equal(err.code, code);
    return true;
  });
}

export function contentStoreConformance(name: string, factory: ContentStoreFactory): void {
  describe(`ContentStore conformance: ${name}`, () => {
    let dir: string;
    let store: ContentStore;
    let n = 0;
    const fresh = async (): Promise<ContentStore> => factory(`${dir}/store-${n++}`);

    before(async () => {
      dir = await makeTempDir('berth-content-');
    });
    after(async () => {
      await removeTempDir(dir);
    });

    test('writes bytes, reports digest and size, and reads them back', async () => {
      store = await fresh();
      const data = Buffer.from('hello, berth\n');
      const info = await store.writeBytes(data);
      assert.deepEqual(info, { digest: sha256(data), size: data.length });
      assert.equal(await store.has(info.digest), true);
      assert.deepEqual(await store.info(info.digest), info);
      assert.deepEqual(await store.readBytes(info.digest), data);
      assert.deepEqual(await collect(store.read(info.digest)), data);
    });

    test('writes an empty blob', async () => {
      store = await fresh();
      const info = await store.writeBytes(new Uint8Array(0), { digest: sha256(''), size: 0 });
      assert.equal(info.size, 0);
      assert.deepEqual(await store.readBytes(info.digest), Buffer.alloc(0));
    });

    test('streams a multi-megabyte blob from a Readable and from an async iterable', async () => {
      store = await fresh();
      const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(100_000 + i, i));
      const whole = Buffer.concat(chunks);
      const a = await store.write(Readable.from(chunks), { digest: sha256(whole), size: whole.length });
      assert.equal(a.size, whole.length);
      async function* gen() {
        for (const c of chunks) yield new Uint8Array(c);
      }
      const b = await store.write(gen());
      assert.deepEqual(b, a);
      assert.ok(whole.equals(await store.readBytes(a.digest)));
    });

    test('reads a byte range (inclusive end)', async () => {
      store = await fresh();
      const { digest } = await store.writeBytes(Buffer.from('0123456789'));
      assert.equal((await collect(store.read(digest, { start: 2, end: 5 }))).toString(), '2345');
      assert.equal((await collect(store.read(digest, { start: 7 }))).toString(), '789');
      assert.equal((await collect(store.read(digest, { end: 0 }))).toString(), '0');
    });

    test('refuses a digest mismatch and stores nothing', async () => {
      store = await fresh();
      const data = Buffer.from('actual content');
      const claimed = sha256('other content');
      await rejectsWithCode(store.writeBytes(data, { digest: claimed }), 'BERTH_CONTENT_DIGEST_MISMATCH');
      assert.equal(await store.has(claimed), false);
      assert.equal(await store.has(sha256(data)), false);
      assert.deepEqual(await listAll(store), []);
    });

    test('refuses a truncated write (fewer bytes than expected) and stores nothing', async () => {
      store = await fresh();
      const data = Buffer.from('0123456789');
      await rejectsWithCode(store.writeBytes(data.subarray(0, 6), { digest: sha256(data), size: 10 }), 'BERTH_CONTENT_SIZE_MISMATCH');
      assert.deepEqual(await listAll(store), []);
    });

    test('refuses more bytes than expected and stores nothing', async () => {
      store = await fresh();
      await rejectsWithCode(store.writeBytes(Buffer.from('0123456789'), { size: 4 }), 'BERTH_CONTENT_SIZE_MISMATCH');
      assert.deepEqual(await listAll(store), []);
    });

    test('a source that fails mid-stream stores nothing and passes the error on', async () => {
      store = await fresh();
      async function* broken() {
        yield Buffer.from('partial data');
        throw new Error('connection reset');
      }
      await assert.rejects(store.write(broken()), /connection reset/);
      assert.deepEqual(await listAll(store), []);
    });

    test('refuses malformed and non-sha256 digests with a clear error', async () => {
      store = await fresh();
      const bad = [
        'sha256:abc',
        'sha256:' + 'A'.repeat(64),
        'sha256:' + 'g'.repeat(64),
        'sha256:' + 'a'.repeat(65),
        'md5:d41d8cd98f00b204e9800998ecf8427e',
        'not a digest',
        '',
        '../../../etc/passwd',
        'sha256:../../../../etc/passwd',
      ];
      for (const d of bad) {
        await assert.rejects(store.has(d as Digest), (err: { code?: string; message: string }) => {
          assert.match(err.code ?? '', /^BERTH_CONTENT_(INVALID|UNSUPPORTED)_DIGEST$/, d);
          return true;
        });
        await assert.rejects(store.writeBytes(Buffer.from('x'), { digest: d as Digest }), /digest/);
      }
      await assert.rejects(store.has('sha512:' + 'a'.repeat(128) as Digest), /unsupported digest algorithm "sha512"/);
      assert.deepEqual(await listAll(store), []);
    });

    test('missing blobs: has() false, info() undefined, reads and delete fail with NOT_FOUND', async () => {
      store = await fresh();
      const missing = sha256('never written');
      assert.equal(await store.has(missing), false);
      assert.equal(await store.info(missing), undefined);
      await rejectsWithCode(store.readBytes(missing), 'BERTH_CONTENT_NOT_FOUND');
      await rejectsWithCode(collect(store.read(missing)), 'BERTH_CONTENT_NOT_FOUND');
      await rejectsWithCode(store.delete(missing), 'BERTH_CONTENT_NOT_FOUND');
    });

    test('writing an existing blob again is idempotent', async () => {
      store = await fresh();
      const a = await store.writeBytes(Buffer.from('same'));
      const b = await store.writeBytes(Buffer.from('same'), { digest: a.digest, size: 4 });
      assert.deepEqual(a, b);
      assert.equal((await listAll(store)).length, 1);
    });

    test('delete removes a blob; list() shows exactly the committed blobs', async () => {
      store = await fresh();
      const x = await store.writeBytes(Buffer.from('x'));
      const y = await store.writeBytes(Buffer.from('yy'));
      assert.deepEqual(await listAll(store), [x, y].sort((a, b) => a.digest.localeCompare(b.digest)));
      await store.delete(x.digest);
      assert.equal(await store.has(x.digest), false);
      assert.deepEqual(await listAll(store), [y]);
    });

    test('concurrent writers of the same blob neither corrupt nor duplicate it', async () => {
      store = await fresh();
      const chunks = Array.from({ length: 30 }, (_, i) => Buffer.alloc(65_536, i));
      const whole = Buffer.concat(chunks);
      const digest = sha256(whole);
      async function* slow() {
        for (const c of chunks) {
          yield c;
          await new Promise((r) => setImmediate(r));
        }
      }
      const results = await Promise.all(Array.from({ length: 8 }, () => store.write(slow(), { digest, size: whole.length })));
      for (const r of results) assert.deepEqual(r, { digest, size: whole.length });
      assert.deepEqual(await listAll(store), [{ digest, size: whole.length }]);
      assert.ok(whole.equals(await store.readBytes(digest)));
    });

    test('concurrent writers of different blobs all land', async () => {
      store = await fresh();
      const blobs = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000 + i, i));
      const infos = await Promise.all(blobs.map((b) => store.writeBytes(b)));
      assert.equal((await listAll(store)).length, 20);
      for (let i = 0; i < blobs.length; i++) assert.ok(blobs[i]!.equals(await store.readBytes(infos[i]!.digest)));
    });

    test('ingest: chunks are written, resumed from offset after close, and committed', async () => {
      store = await fresh();
      const data = Buffer.from('chunk-one|chunk-two|chunk-three');
      const w1 = await store.ingest('upload-1');
      assert.equal(w1.offset, 0);
      await w1.write(data.subarray(0, 10));
      assert.equal(w1.offset, 10);
      await w1.close();
      assert.equal(await store.has(sha256(data)), false, 'partial data is never served');

      const w2 = await store.ingest('upload-1');
      assert.equal(w2.offset, 10, 'resume continues where the last writer stopped');
      await w2.write(data.subarray(10, 20));
      await w2.write(data.subarray(20));
      const info = await w2.commit({ digest: sha256(data), size: data.length });
      assert.deepEqual(info, { digest: sha256(data), size: data.length });
      assert.deepEqual(await store.readBytes(info.digest), data);

      const w3 = await store.ingest('upload-1');
      assert.equal(w3.offset, 0, 'a committed ingest is gone');
      await w3.abort();
    });

    test('ingest: a second writer of the same ref is refused while the first is open', async () => {
      store = await fresh();
      const w = await store.ingest('busy');
      await rejectsWithCode(store.ingest('busy'), 'BERTH_CONTENT_INGEST_LOCKED');
      await w.close();
      const again = await store.ingest('busy');
      await again.abort();
    });

    test('ingest: commit with a wrong digest is refused and stores nothing', async () => {
      store = await fresh();
      const w = await store.ingest('wrong');
      await w.write(Buffer.from('abc'));
      await rejectsWithCode(w.commit({ digest: sha256('abd') }), 'BERTH_CONTENT_DIGEST_MISMATCH');
      assert.deepEqual(await listAll(store), []);
    });

    test('ingest: commit of an incomplete upload is refused as a size mismatch', async () => {
      store = await fresh();
      const w = await store.ingest('short');
      await w.write(Buffer.from('abc'));
      await rejectsWithCode(w.commit({ size: 5 }), 'BERTH_CONTENT_SIZE_MISMATCH');
      assert.deepEqual(await listAll(store), []);
    });

    test('ingest: abort drops the partial data; writes after commit are refused', async () => {
      store = await fresh();
      const w = await store.ingest('gone');
      await w.write(Buffer.from('abc'));
      await w.abort();
      const w2 = await store.ingest('gone');
      assert.equal(w2.offset, 0);
      await w2.write(Buffer.from('xyz'));
      await w2.commit({});
      assert.throws(() => w2.write(Buffer.from('more')), /already committed/);
    });

    test('ingest: committing a blob that already exists is idempotent', async () => {
      store = await fresh();
      const first = await store.writeBytes(Buffer.from('dup'));
      const w = await store.ingest('dup');
      await w.write(Buffer.from('dup'));
      assert.deepEqual(await w.commit({ digest: first.digest, size: 3 }), first);
      assert.deepEqual(await listAll(store), [first]);
    });
  });
}
