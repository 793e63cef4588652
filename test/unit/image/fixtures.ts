import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { sha256Digest } from '../../../src/content/digest.ts';
import type { ContentStore, Digest } from '../../../src/content/types.ts';
import { MediaTypes, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../../../src/oci/image-spec.ts';

/** A real tar with the given files (path → content), as a layer holds. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export interface TestImage {
  id: Digest;
  manifest: Descriptor;
  manifestJson: ImageManifest;
  config: ImageConfig;
  layers: Descriptor[];
  diffIds: Digest[];
}

export interface TestImageOptions {
  /** Each layer's files; default one layer with /hello. */
  layers?: Array<Record<string, string>>;
  created?: string;
  labels?: Record<string, string>;
  cmd?: string[];
  platform?: Platform;
  /** Docker v2s2 (gzip layers) or OCI (gzip layers). */
  format?: 'docker' | 'oci';
  /** Extra history text to make configs distinct. */
  comment?: string;
}

/** Write a complete image (layers, config, manifest) into `content`. */
export async function writeTestImage(content: ContentStore, options: TestImageOptions = {}): Promise<TestImage> {
  const format = options.format ?? 'docker';
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const files of options.layers ?? [{ hello: 'world\n' }]) {
    const tar = await makeTar(files);
    const gz = gzipSync(tar);
    diffIds.push(sha256Digest(tar));
    const info = await content.writeBytes(gz);
    layers.push({ mediaType: format === 'docker' ? MediaTypes.dockerLayerTarGzip : MediaTypes.ociLayerTarGzip, digest: info.digest, size: info.size });
  }
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const config: ImageConfig = {
    created: options.created ?? '2026-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: options.cmd ?? ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'], Labels: options.labels ?? {} },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: options.created ?? '2026-01-01T00:00:00Z', created_by: `layer ${i}${options.comment ? ' ' + options.comment : ''}` })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configInfo = await content.writeBytes(configBytes);
  const manifestJson: ImageManifest = {
    schemaVersion: 2,
    mediaType: format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
    config: { mediaType: format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig, digest: configInfo.digest, size: configInfo.size },
    layers,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifestJson));
  const m = await content.writeBytes(manifestBytes);
  return {
    id: configInfo.digest,
    manifest: { mediaType: manifestJson.mediaType!, digest: m.digest, size: m.size },
    manifestJson,
    config,
    layers,
    diffIds,
  };
}
