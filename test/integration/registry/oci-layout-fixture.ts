/**
 * An OCI image layout made offline from busybox-static: two gzip layers
 * (the busybox rootfs, and a small file layer), an OCI config with the
 * right diff_ids, a manifest, and index.json naming it by tag.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { makeBusyboxTar } from '../../helpers/busybox.ts';

export interface BuiltLayout {
  dir: string;
  tag: string;
  manifestDigest: string;
  manifestBytes: Buffer;
  layerDigests: string[];
  configDigest: string;
}

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function makeBusyboxLayout(workDir: string, dir: string, tag: string): Promise<BuiltLayout> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const writeBlob = async (bytes: Uint8Array): Promise<string> => {
    const d = digestOf(bytes);
    await writeFile(join(blobsDir, d.slice(7)), bytes);
    return d;
  };

  const tar1 = join(workDir, 'busybox.tar');
  await makeBusyboxTar(workDir, tar1);
  const extra = join(workDir, 'extra');
  await mkdir(join(extra, 'etc'), { recursive: true });
  await writeFile(join(extra, 'etc', 'motd'), 'made offline by berth tests\n');
  const tar2 = join(workDir, 'extra.tar');
  execFileSync('tar', ['--numeric-owner', '-C', extra, '-cf', tar2, '.']);

  const layers: { digest: string; size: number; diffId: string }[] = [];
  for (const t of [tar1, tar2]) {
    const raw = await readFile(t);
    const gz = gzipSync(raw);
    layers.push({ digest: await writeBlob(gz), size: gz.length, diffId: digestOf(raw) });
  }
  const config = Buffer.from(
    JSON.stringify({
      created: '2026-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [{ created_by: 'busybox-static' }, { created_by: 'motd' }],
    }),
  );
  const configDigest = await writeBlob(config);
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = await writeBlob(manifestBytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifestBytes.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    }),
  );
  return { dir, tag, manifestDigest, manifestBytes, layerDigests: layers.map((l) => l.digest), configDigest };
}

/**
 * Add an image index blob over the layout's manifest (platform linux/amd64)
 * and name it `tag` in index.json, so `oci:<dir>:<tag>` is a multi-platform image.
 */
export async function addIndexTag(layout: BuiltLayout, tag: string): Promise<{ indexDigest: string; indexBytes: Buffer }> {
  const indexBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: layout.manifestDigest,
          size: layout.manifestBytes.length,
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    }),
  );
  const indexDigest = digestOf(indexBytes);
  await writeFile(join(layout.dir, 'blobs', 'sha256', indexDigest.slice(7)), indexBytes);
  const top = JSON.parse(await readFile(join(layout.dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: indexDigest,
    size: indexBytes.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  await writeFile(join(layout.dir, 'index.json'), JSON.stringify(top));
  return { indexDigest, indexBytes };
}
