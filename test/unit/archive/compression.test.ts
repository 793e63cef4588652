import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { compressionFromMediaType, createCompressor, decompressStream, detectCompression, layerMediaType, peekStream } from '../../../src/archive/compression.ts';
import { isBerthError } from '../../../src/common/errors.ts';

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const payload = Buffer.from('x'.repeat(100000) + 'the end');

test('compression by media type', () => {
  assert.equal(compressionFromMediaType('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
  assert.equal(compressionFromMediaType('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
  assert.equal(compressionFromMediaType('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
  assert.equal(compressionFromMediaType('application/vnd.oci.image.layer.v1.tar'), 'none');
  assert.equal(compressionFromMediaType('application/json'), undefined);
  assert.equal(layerMediaType('zstd'), 'application/vnd.oci.image.layer.v1.tar+zstd');
});

test('compression by magic bytes', () => {
  assert.equal(detectCompression(gzipSync(payload)), 'gzip');
  assert.equal(detectCompression(zstdCompressSync(payload)), 'zstd');
  assert.equal(detectCompression(payload), 'none');
  assert.equal(detectCompression(Buffer.from([0x1f])), 'none', 'too short to be gzip');
});

test('decompressStream opens each codec, the bytes win over a wrong media type', async () => {
  for (const [blob, codec] of [[gzipSync(payload), 'gzip'], [zstdCompressSync(payload), 'zstd'], [payload, 'none']] as const) {
    // one byte per chunk makes the peek span chunks
    const src = Readable.from([blob.subarray(0, 1), blob.subarray(1, 2), blob.subarray(2)]);
    const opened = await decompressStream(src, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    assert.equal(opened.compression, codec);
    assert.ok((await readAll(opened.stream)).equals(payload));
  }
});

test('compressors round trip; gzip is the default', async () => {
  for (const codec of [undefined, 'zstd'] as const) {
    const z = createCompressor(codec);
    const out = await readAll(Readable.from([payload]).pipe(z));
    assert.equal(detectCompression(out), codec ?? 'gzip');
    assert.ok((await readAll((await decompressStream(Readable.from([out]))).stream)).equals(payload));
  }
});

test('truncated and corrupt compressed streams are BERTH_ARCHIVE_CORRUPT', async () => {
  const gz = gzipSync(payload);
  const truncated = await decompressStream(Readable.from([gz.subarray(0, gz.length - 20)]));
  await assert.rejects(readAll(truncated.stream), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_CORRUPT'));
  const bad = Buffer.from(gz);
  bad.fill(0x55, 20, 40);
  await assert.rejects(readAll((await decompressStream(Readable.from([bad]))).stream), (e: unknown) => isBerthError(e, 'BERTH_ARCHIVE_CORRUPT'));
});

test('peekStream returns what is there on a short stream and leaves it readable', async () => {
  const r = await peekStream(Readable.from([Buffer.from('ab')]), 4);
  assert.deepEqual([...r.head], [0x61, 0x62]);
  assert.equal((await readAll(r.stream)).toString(), 'ab');
  const empty = await peekStream(Readable.from([]), 4);
  assert.equal(empty.head.length, 0);
  assert.equal((await readAll(empty.stream)).length, 0);
});
