import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { readTar } from '../../archive/tar.ts';
import { BerthError } from '../../common/errors.ts';
import { createCompressor, decompressStream } from '../../archive/compression.ts';
import { MediaTypes, type Descriptor, type ImageConfig, type ImageManifest } from '../../oci/image-spec.ts';
import type { Digest } from '../../content/types.ts';
import { parseDockerRef, tagString } from '../reference.ts';
import { applyChanges } from './changes.ts';
import { withHostDefaults } from './platform.ts';
import type { ArchiveImageStore, ImportOptions, ImportResult } from './types.ts';

/**
 * `docker import`: a root filesystem tarball (plain, gzip or zstd — detected
 * by its bytes) becomes a one-layer image. The tar is read once: it is hashed
 * uncompressed (the diff ID), checked entry by entry (no `..` escapes), and
 * gzip-compressed into the content store (the layer blob, as it will be
 * pushed). The config carries Docker's history entry ("Imported from -").
 */
export async function importRootfs(store: ArchiveImageStore, source: Readable, options: ImportOptions = {}): Promise<ImportResult> {
  // Validate everything the user typed before reading a byte.
  let tag: string | undefined;
  if (options.ref !== undefined) {
    const ref = parseDockerRef(options.ref);
    if (ref.digest !== undefined || ref.tag === undefined) {
      throw new BerthError('BERTH_IMPORT_INVALID_REFERENCE', `cannot tag the imported image as "${options.ref}": a digest reference is not a tag`, { status: 400 });
    }
    tag = tagString(ref as typeof ref & { tag: string });
  }
  const containerConfig = applyChanges({}, options.changes ?? []);
  const platform = withHostDefaults(options.platform);

  const { stream } = await decompressStream(source);
  const diffHash = createHash('sha256');
  let uncompressedSize = 0;
  const gzip = createCompressor('gzip');
  const check = new PassThrough({ highWaterMark: 1 << 20 });
  check.on('error', () => {});
  const checking = checkRootfsEntries(check);
  // A refused entry stops the checker; remember why so it wins over the write errors that follow.
  let checkError: unknown;
  checking.catch((err: unknown) => {
    checkError = err;
  });
  // The compressed bytes flow into the store while we feed the compressor.
  const compressed = gzip.pipe(new PassThrough({ highWaterMark: 1 << 20 }));
  // The store may not be reading yet when an abort destroys this; it sees the error when it starts.
  compressed.on('error', () => {});
  const storing = store.content.write(compressed);
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      diffHash.update(buf);
      uncompressedSize += buf.length;
      const a = check.write(buf);
      const b = gzip.write(buf);
      if (!a) await Promise.race([drained(check), checking]);
      if (!b) await drained(gzip);
      if (checkError) throw checkError;
    }
    check.end();
    gzip.end();
    const entries = await checking;
    if (entries === 0) {
      throw new BerthError('BERTH_IMPORT_EMPTY', 'the rootfs tarball is empty (no tar entries)', { status: 400 });
    }
  } catch (err) {
    check.destroy();
    gzip.destroy();
    compressed.destroy(new Error('import aborted'));
    // Let the store drop its partial ingest before reporting.
    await storing.catch(() => {});
    throw toImportError(checkError ?? err);
  }
  const layer = await storing;
  const diffId: Digest = `sha256:${diffHash.digest('hex')}`;
  options.onProgress?.({ id: diffId.slice(7, 19), status: 'Pull complete', current: uncompressedSize, total: uncompressedSize });

  const created = new Date().toISOString();
  const message = options.message || `Imported from ${options.source ?? '-'}`;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created,
    comment: message,
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, comment: message }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configInfo = await store.content.writeBytes(configBytes);
  // Docker v2 schema 2 with a gzip layer: what `docker push` of an imported image sends.
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, digest: configInfo.digest, size: configInfo.size },
    layers: [{ mediaType: MediaTypes.dockerLayerTarGzip, digest: layer.digest, size: layer.size }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestInfo = await store.content.writeBytes(manifestBytes);
  const manifestDescriptor: Descriptor = { mediaType: MediaTypes.dockerManifest, digest: manifestInfo.digest, size: manifestInfo.size };
  const { id } = await store.addImage({ manifest: manifestDescriptor, tags: tag ? [tag] : [] });
  return { id, manifest: manifestDescriptor, diffId, ...(tag ? { tag } : {}) };
}

/** Read the tar entries, refusing names that climb out of the rootfs; returns the entry count. */
async function checkRootfsEntries(source: PassThrough): Promise<number> {
  let count = 0;
  try {
    for await (const entry of readTar(source)) {
      count++;
      const name = entry.header.name;
      let depth = 0;
      for (const part of name.split('/')) {
        if (part === '..') depth--;
        else if (part !== '' && part !== '.') depth++;
        if (depth < 0) break;
      }
      if (depth < 0 || name.includes('\0')) {
        throw new BerthError('BERTH_IMPORT_PATH_ESCAPE', `rootfs tarball entry ${JSON.stringify(name)} points outside the root filesystem; refusing the import`, { status: 400 });
      }
    }
  } finally {
    // Keep draining so the writer never blocks on a reader that stopped.
    source.resume();
  }
  return count;
}

function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      stream.off('drain', onDrain);
      reject(err);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

function toImportError(err: unknown): unknown {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('BERTH_IMPORT_MALFORMED_TAR', `the rootfs is not a valid tar archive: ${message}`, { status: 400, cause: err });
}
