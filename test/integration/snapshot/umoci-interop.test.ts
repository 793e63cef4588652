import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { openSnapshotter } from '../../../src/snapshot/open.ts';
import { mountAll, unmount } from '../../../src/snapshot/mount.ts';
import { applyImageLayers } from '../../../src/snapshot/layers.ts';
import { sha256Digest } from '../../../src/content/digest.ts';
import type { ContentStore } from '../../../src/content/types.ts';
import type { Descriptor, Digest } from '../../../src/oci/image-spec.ts';
import { makeTar, sha256, gz, describeTree, type FixtureEntry } from './fixtures.ts';

/**
 * Interop with a reference unpacker: umoci (Debian package) unpacks the same
 * OCI image layout, and the tree it makes must equal what berth's overlay
 * and copying snapshotters show for the image.
 */
const layers: FixtureEntry[][] = [
  [
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/a', body: 'a', uid: 7, gid: 8 },
    { name: 'etc/b', body: 'b' },
    { name: 'var/', type: 'directory' },
    { name: 'var/lib/', type: 'directory', mode: 0o700 },
    { name: 'var/lib/x', body: 'x' },
    { name: 'var/lib/y/', type: 'directory' },
    { name: 'var/lib/y/z', body: 'z' },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/tool', body: 'tool', mode: 0o4755 },
    { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool' },
    { name: 'bin/sh', type: 'symlink', linkname: 'tool' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ],
  [
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/.wh.a' },
    { name: 'etc/c', body: 'c' },
    { name: 'var/', type: 'directory' },
    { name: 'var/lib/', type: 'directory', mode: 0o750 },
    { name: 'var/lib/.wh..wh..opq' },
    { name: 'var/lib/new', body: 'new' },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/.wh.sh' },
  ],
  [
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/a', body: 'a-again' },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
    { name: 'fifo', type: 'fifo', mode: 0o600 },
  ],
];

let dir: string;
let store: ContentStore;
const descriptors: Descriptor[] = [];
const diffIds: Digest[] = [];

before(async () => {
  dir = await makeTempDir('berth-umoci-');
  store = await openContentStore(join(dir, 'layout'));
  for (const l of layers) {
    const tarBytes = await makeTar(l);
    const info = await store.writeBytes(gz(tarBytes));
    descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: info.digest, size: info.size });
    diffIds.push(sha256(tarBytes) as Digest);
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const cfg = await store.writeBytes(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
    layers: descriptors,
  }));
  const m = await store.writeBytes(manifest);
  assert.equal(m.digest, sha256Digest(manifest));
  await writeFile(join(dir, 'layout/index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
});
after(async () => { await removeTempDir(dir); });

test('berth (overlay and copy) and umoci unpack the same image to the same tree', async () => {
  const bundle = join(dir, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${join(dir, 'layout')}:latest`, bundle], { stdio: 'pipe' });
  const reference = await describeTree(join(bundle, 'rootfs'));
  assert.ok(reference.some((l) => l.startsWith('f etc/a ') ), 'umoci made the tree');

  for (const driver of ['overlayfs', 'native'] as const) {
    const s = await openSnapshotter({ dataRoot: join(dir, `root-${driver}`), driver });
    const r = await applyImageLayers({ store, snapshotter: s, layers: descriptors, diffIds });
    const mnt = join(dir, `mnt-${driver}`);
    await mkdir(mnt);
    await mountAll(await s.view('v', r.snapshotKey), mnt);
    try {
      assert.deepEqual(await describeTree(mnt), reference, `${driver} differs from umoci`);
    } finally {
      await unmount(mnt);
    }
  }
});
