/**
 * berth's registry client against berth's own registry server (src/registry)
 * on loopback: round trip, chunked uploads, cross-repo mount, tags, and a
 * multi-platform index pushed child-first and pulled per platform.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startRegistry } from '../../../src/registry/server.ts';
import type { RunningRegistry } from '../../../src/registry/server.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { pullImage } from '../../../src/distribution/pull.ts';
import { pushImage } from '../../../src/distribution/push.ts';
import { RegistryClient } from '../../../src/distribution/client.ts';
import { MediaTypes } from '../../../src/oci/image-spec.ts';
import type { ImageIndex } from '../../../src/oci/image-spec.ts';
import type { ProgressEvent } from '../../../src/common/progress.ts';
import { makeTestImage, storeWithImage, sha } from './fixtures.ts';
import type { TestImage } from './fixtures.ts';

const configPath = '/nonexistent/berth-test/config.json';

describe('registry client against berth registry serve', () => {
  let dir: string;
  let server: RunningRegistry;
  let host: string;
  let image: TestImage;

  before(async () => {
    dir = await makeTempDir('berth-dist-own-');
    server = await startRegistry({ addr: '127.0.0.1:0', root: join(dir, 'registry') });
    host = `127.0.0.1:${server.port}`;
    image = await makeTestImage(dir, { extraLayers: 2, extraLayerBytes: 400 * 1024, oci: true });
  });
  after(async () => {
    await server?.close();
    if (dir) await removeTempDir(dir);
  });

  test('push (monolithic and chunked) and pull back byte-identical', async () => {
    const src = await storeWithImage(join(dir, 'src'), image);
    const a = await pushImage({ reference: `${host}/own/busybox:mono`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const b = await pushImage({
      reference: `${host}/own/chunked:latest`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      monolithicMaxBytes: 64 * 1024,
      chunkBytes: 100 * 1024,
    });
    assert.equal(a.digest, image.manifestDescriptor.digest);
    assert.equal(b.digest, image.manifestDescriptor.digest);
    for (const ref of [`${host}/own/busybox:mono`, `${host}/own/chunked:latest`]) {
      const dst = await openContentStore(join(dir, `dst-${ref.split('/').pop()!.replace(':', '-')}`));
      const pulled = await pullImage({ reference: ref, store: dst, configPath });
      assert.equal(pulled.digest, image.manifestDescriptor.digest);
      for (const [d, bytes] of image.blobs) assert.ok((await dst.readBytes(d)).equals(bytes), `${ref}: blob ${d}`);
    }
    const client = new RegistryClient({ registry: host, credentials: null });
    assert.deepEqual(await client.listTags('own/busybox'), ['mono']);
  });

  test('cross-repository mount from a repository on the same berth registry', async () => {
    const src = await storeWithImage(join(dir, 'src-mount'), image);
    await pushImage({ reference: `${host}/own/origin:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const events: ProgressEvent[] = [];
    const pushed = await pushImage({
      reference: `${host}/own/mounted:1`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      mountCandidates: () => ['own/origin'],
      progress: (e) => events.push(e),
    });
    assert.deepEqual(pushed.uploaded, []);
    assert.equal(events.filter((e) => e.status === 'Mounted from own/origin').length, image.manifest.layers.length);
  });

  test('a multi-platform index is pushed children first and pulled per platform', async () => {
    const arm = await makeTestImage(join(dir, 'arm-work'), { busybox: false, extraLayers: 1, extraLayerBytes: 10_000, oci: true });
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { ...image.manifestDescriptor, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifestDescriptor, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    const src = await storeWithImage(join(dir, 'src-multi'), image);
    for (const [d, b] of arm.blobs) await src.writeBytes(b, { digest: d });
    await src.writeBytes(indexBytes);
    const pushed = await pushImage({
      reference: `${host}/own/multi:1`,
      store: src,
      manifestDescriptor: { mediaType: MediaTypes.ociIndex, digest: sha(indexBytes), size: indexBytes.length },
      configPath,
    });
    assert.equal(pushed.digest, sha(indexBytes));
    assert.equal(pushed.mediaType, MediaTypes.ociIndex);
    const dst = await openContentStore(join(dir, 'dst-multi'));
    const armPull = await pullImage({ reference: `${host}/own/multi:1`, store: dst, configPath, platform: 'linux/arm64' });
    assert.equal(armPull.digest, sha(indexBytes));
    assert.equal(armPull.manifestDescriptor.digest, arm.manifestDescriptor.digest);
    const amdPull = await pullImage({ reference: `${host}/own/multi:1`, store: dst, configPath, platform: 'linux/amd64' });
    assert.equal(amdPull.manifestDescriptor.digest, image.manifestDescriptor.digest);

    // A store holding only one platform of the index pushes that platform's manifest, as docker does.
    const partial = await storeWithImage(join(dir, 'src-partial'), arm);
    await partial.writeBytes(indexBytes);
    const single = await pushImage({
      reference: `${host}/own/single:1`,
      store: partial,
      manifestDescriptor: { mediaType: MediaTypes.ociIndex, digest: sha(indexBytes), size: indexBytes.length },
      configPath,
    });
    assert.equal(single.digest, arm.manifestDescriptor.digest);
  });

  test('pushing content the store does not have is a clear error', async () => {
    const empty = await openContentStore(join(dir, 'src-empty'));
    await empty.writeBytes(image.manifestBytes);
    await assert.rejects(
      pushImage({ reference: `${host}/own/broken:1`, store: empty, manifestDescriptor: image.manifestDescriptor, configPath }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BERTH_DISTRIBUTION_MISSING_CONTENT');
        assert.match(err.message, /is not in the local store/);
        return true;
      },
    );
    const client = new RegistryClient({ registry: host, credentials: null });
    await assert.rejects(client.listTags('own/broken'), { code: 'BERTH_DISTRIBUTION_NOT_FOUND' });
  });
});
