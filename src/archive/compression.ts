import { PassThrough, Readable, Transform } from 'node:stream';
import { constants as zc, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { BerthError } from '../common/errors.ts';
import { layerMediaTypeInfo } from '../oci/image-spec.ts';

/**
 * Layer compression: which codec a blob uses (by media type and by magic
 * bytes) and zlib streams to open or make it. The magic bytes win over the
 * media type, as in Docker: registries and tools mislabel layers in the wild,
 * and the bytes cannot lie.
 */
export type Compression = 'none' | 'gzip' | 'zstd';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** Enough for both magics. */
export const MAGIC_BYTES = 4;
/** Big zlib buffers: fewer round trips through the thread pool (the default 16 KiB costs ~20% on large layers). */
export const ZLIB_CHUNK = 256 * 1024;

/** The compression a layer media type declares, or undefined when it is not a known layer type. */
export function compressionFromMediaType(mediaType: string): Compression | undefined {
  return layerMediaTypeInfo(mediaType)?.compression;
}

/** Compression by magic bytes; anything else is taken as uncompressed (a tar has no magic at offset 0). */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

function startsWith(head: Uint8Array, magic: number[]): boolean {
  if (head.length < magic.length) return false;
  return magic.every((b, i) => head[i] === b);
}

/**
 * Read the first `n` bytes of a stream without losing them: returns them
 * and a stream that yields everything from the start again (unshift cannot
 * be used once the source has ended, which short blobs do at once).
 */
export async function peekStream(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) { ended = true; break; }
    chunks.push(r.value);
    have += r.value.length;
  }
  const first = Buffer.concat(chunks);
  const rest = (async function* () {
    let finished = ended;
    try {
      if (first.length > 0) yield first;
      while (!finished) {
        const r = await it.next();
        if (r.done) { finished = true; break; }
        yield r.value;
      }
    } finally {
      // the consumer stopped early: release the source
      if (!finished) await it.return?.();
    }
  })();
  return { head: first.subarray(0, n), stream: Readable.from(rest, { objectMode: false, highWaterMark: ZLIB_CHUNK }) };
}

export interface OpenedStream {
  compression: Compression;
  /** The uncompressed bytes. */
  stream: Readable;
}

/**
 * Open a possibly compressed blob stream as uncompressed bytes. `mediaType`
 * is checked (an unknown layer type is not an error here: the caller decides
 * what to accept), and the magic bytes decide the codec.
 */
export async function decompressStream(source: Readable, options: { mediaType?: string } = {}): Promise<OpenedStream> {
  const { head, stream: whole } = await peekStream(source, MAGIC_BYTES);
  const compression = detectCompression(head);
  const stream = openDecompressor(whole, compression, options.mediaType);
  return { compression, stream };
}

function openDecompressor(source: Readable, compression: Compression, mediaType?: string): Readable {
  if (compression === 'none') return source;
  const codec = createDecompressor(compression);
  const label = mediaType ? ` (${mediaType})` : '';
  const out = new PassThrough({ highWaterMark: ZLIB_CHUNK });
  // One error reaches the consumer, naming the codec; either side failing stops the other.
  source.on('error', (err) => { codec.destroy(); out.destroy(err); });
  codec.on('error', (err) => {
    source.destroy();
    out.destroy(new BerthError('BERTH_ARCHIVE_CORRUPT', `${compression} stream${label} is corrupt or truncated: ${err.message}`, { status: 400, cause: err }));
  });
  source.pipe(codec).pipe(out);
  return out;
}

export function createDecompressor(compression: Exclude<Compression, 'none'>): Transform {
  if (compression === 'gzip') return createGunzip({ chunkSize: ZLIB_CHUNK });
  return createZstdDecompress({ chunkSize: ZLIB_CHUNK });
}

export interface CompressOptions {
  /** gzip: 1..9 (default 6, Docker's default is the zlib default); zstd: 1..19 (default 3). */
  level?: number;
}

/** A compressor for layer creation; gzip is the default as Docker and the OCI spec expect. */
export function createCompressor(compression: Exclude<Compression, 'none'> = 'gzip', options: CompressOptions = {}): Transform {
  if (compression === 'gzip') {
    return createGzip({ chunkSize: ZLIB_CHUNK, level: options.level ?? zc.Z_DEFAULT_COMPRESSION });
  }
  return createZstdCompress({
    chunkSize: ZLIB_CHUNK,
    params: { [zc.ZSTD_c_compressionLevel]: options.level ?? 3 },
  });
}

/** OCI media type for a layer of the given compression. */
export function layerMediaType(compression: Compression): string {
  if (compression === 'gzip') return 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (compression === 'zstd') return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return 'application/vnd.oci.image.layer.v1.tar';
}
