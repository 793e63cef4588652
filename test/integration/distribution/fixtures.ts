/**
 * Images made offline for the registry-client tests: a busybox rootfs layer
 * (from /bin/busybox) plus optional extra layers, with a real image config and
 * manifest, written into a content store exactly as a pull would leave them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { openContentStore } from '../../../src/content/local.ts';
import type { LocalContentStore } from '../../../src/content/local.ts';
import type { Digest } from '../../../src/content/types.ts';
import { MediaTypes } from '../../../src/oci/image-spec.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../../../src/oci/image-spec.ts';

export interface TestImage {
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  configBytes: Buffer;
  /** Every blob of the image by digest (config, layers, manifest). */
  blobs: Map<Digest, Buffer>;
}

export const sha = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A single-file tar (uncompressed) made by hand, for small extra layers. */
export function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

/**
 * Build the image in memory. `extraLayers` adds layers of `extraLayerBytes`
 * random (incompressible) bytes each, to have something worth fetching in parallel.
 */
export async function makeTestImage(
  workDir: string,
  options: { extraLayers?: number; extraLayerBytes?: number; oci?: boolean; busybox?: boolean } = {},
): Promise<TestImage> {
  const tars: Buffer[] = [];
  if (options.busybox !== false) {
    const tarPath = join(workDir, 'busybox.tar');
    await makeBusyboxTar(workDir, tarPath);
    tars.push(await readFile(tarPath));
  }
  for (let i = 0; i < (options.extraLayers ?? 0); i++) {
    tars.push(tarWithFile(`data-${i}.bin`, randomBytes(options.extraLayerBytes ?? 256 * 1024)));
  }
  const layerMediaType = options.oci ? MediaTypes.ociLayerTarGzip : MediaTypes.dockerLayerTarGzip;
  const blobs = new Map<Digest, Buffer>();
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const tar of tars) {
    const gz = gzipSync(tar, { level: 1 });
    diffIds.push(sha(tar));
    const d: Descriptor = { mediaType: layerMediaType, digest: sha(gz), size: gz.length };
    layers.push(d);
    blobs.set(d.digest, gz);
  }
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-11-23T00:00:00Z',
    config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: tars.map(() => ({ created: '2026-11-23T00:00:00Z', created_by: 'berth test fixture' })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: options.oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, digest: sha(configBytes), size: configBytes.length };
  blobs.set(configDesc.digest, configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: options.oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest,
    config: configDesc,
    layers,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const manifestDescriptor: Descriptor = { mediaType: manifest.mediaType!, digest: sha(manifestBytes), size: manifestBytes.length };
  blobs.set(manifestDescriptor.digest, manifestBytes);
  return { manifestDescriptor, manifest, manifestBytes, configBytes, blobs };
}

/** A content store under `dir` holding every blob of `image`. */
export async function storeWithImage(dir: string, image: TestImage): Promise<LocalContentStore> {
  const store = await openContentStore(dir);
  for (const [digest, bytes] of image.blobs) await store.writeBytes(bytes, { digest, size: bytes.length });
  return store;
}
