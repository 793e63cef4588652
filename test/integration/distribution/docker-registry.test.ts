/**
 * berth's registry client against Debian's docker-registry (distribution 2.8)
 * on loopback: push an offline busybox image, pull it back byte-identical,
 * skip what is already there, chunked uploads, cross-repo mounts, pull by digest.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerRegistry } from '../../helpers/peers/docker-registry.ts';
import type { DockerRegistry } from '../../helpers/peers/docker-registry.ts';
import { run } from '../../helpers/peers/process.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { pullImage } from '../../../src/distribution/pull.ts';
import { pushImage } from '../../../src/distribution/push.ts';
import { RegistryClient } from '../../../src/distribution/client.ts';
import { login, logout } from '../../../src/distribution/login.ts';
import type { ProgressEvent } from '../../../src/common/progress.ts';
import type { Descriptor } from '../../../src/oci/image-spec.ts';
import { makeTestImage, storeWithImage, sha } from './fixtures.ts';
import type { TestImage } from './fixtures.ts';

describe('registry client against docker-registry', () => {
  let registry: DockerRegistry;
  let dir: string;
  let image: TestImage;
  // No config.json anywhere near: anonymous access only.
  const configPath = '/nonexistent/berth-test/config.json';

  before(async () => {
    dir = await makeTempDir('berth-dist-');
    registry = await startDockerRegistry();
    image = await makeTestImage(dir, { extraLayers: 3, extraLayerBytes: 300 * 1024 });
  });
  after(async () => {
    await registry?.stop();
    if (dir) await removeTempDir(dir);
  });

  test('push busybox, pull it back byte-identical', async () => {
    const src = await storeWithImage(join(dir, 'src'), image);
    const events: ProgressEvent[] = [];
    const pushed = await pushImage({
      reference: `${registry.host}/berth/busybox:1.0`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      progress: (e) => events.push(e),
    });
    assert.equal(pushed.digest, image.manifestDescriptor.digest);
    assert.equal(pushed.size, image.manifestBytes.length);
    assert.equal(pushed.uploaded.length, image.manifest.layers.length + 1);
    const layerIds = image.manifest.layers.map((l) => l.digest.slice(7, 19));
    for (const id of layerIds) {
      assert.ok(events.some((e) => e.id === id && e.status === 'Preparing'), `Preparing for ${id}`);
      assert.ok(events.some((e) => e.id === id && e.status === 'Pushed'), `Pushed for ${id}`);
    }

    // The registry itself agrees on what it holds.
    const client = new RegistryClient({ registry: registry.host, credentials: null });
    assert.deepEqual(await client.listTags('berth/busybox'), ['1.0']);
    assert.ok((await client.catalog()).includes('berth/busybox'));

    const dst = await openContentStore(join(dir, 'dst'));
    const committed: { digest: string; index: number }[] = [];
    const pullEvents: ProgressEvent[] = [];
    const pulled = await pullImage({
      reference: `${registry.host}/berth/busybox:1.0`,
      store: dst,
      configPath,
      progress: (e) => pullEvents.push(e),
      onLayerCommitted: async (layer: Descriptor, index: number) => {
        // The layer is really there when the hook runs.
        assert.ok(await dst.has(layer.digest));
        committed.push({ digest: layer.digest, index });
      },
    });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.equal(pulled.manifestDescriptor.digest, image.manifestDescriptor.digest);
    assert.equal(pulled.indexDescriptor, undefined);
    assert.deepEqual(pulled.manifest, image.manifest);
    assert.deepEqual(pulled.config.rootfs, JSON.parse(image.configBytes.toString()).rootfs);
    assert.deepEqual(
      committed.sort((a, b) => a.index - b.index).map((c) => c.digest),
      image.manifest.layers.map((l) => l.digest),
    );
    for (const [digest, bytes] of image.blobs) {
      const got = await dst.readBytes(digest);
      assert.ok(got.equals(bytes), `blob ${digest} differs after the round trip`);
    }
    assert.equal(pulled.downloaded.length, image.manifest.layers.length);
    assert.ok(pullEvents.some((e) => e.status === 'Pulling from berth/busybox' && e.id === '1.0'));
    for (const id of layerIds) {
      for (const status of ['Pulling fs layer', 'Verifying Checksum', 'Download complete']) {
        assert.ok(pullEvents.some((e) => e.id === id && e.status === status), `${status} for ${id}`);
      }
    }
    // Nothing left behind in ingest.
    assert.deepEqual(await dst.listIngests(), []);
  });

  test('second pull skips present layers ("Already exists"), second push finds them ("Layer already exists")', async () => {
    const src = await storeWithImage(join(dir, 'src2'), image);
    await pushImage({ reference: `${registry.host}/berth/again:a`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const events: ProgressEvent[] = [];
    const again = await pushImage({
      reference: `${registry.host}/berth/again:b`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      progress: (e) => events.push(e),
    });
    assert.deepEqual(again.uploaded, []);
    assert.equal(events.filter((e) => e.status === 'Layer already exists').length, image.manifest.layers.length);

    const dst = await openContentStore(join(dir, 'dst2'));
    await pullImage({ reference: `${registry.host}/berth/again:a`, store: dst, configPath });
    const pullEvents: ProgressEvent[] = [];
    const second = await pullImage({ reference: `${registry.host}/berth/again:b`, store: dst, configPath, progress: (e) => pullEvents.push(e) });
    assert.deepEqual(second.downloaded, []);
    assert.equal(pullEvents.filter((e) => e.status === 'Already exists').length, image.manifest.layers.length);
    assert.ok(!pullEvents.some((e) => e.status === 'Downloading'));
  });

  test('chunked upload (PATCH) of large blobs, then pull by digest', async () => {
    const src = await storeWithImage(join(dir, 'src3'), image);
    const pushed = await pushImage({
      reference: `${registry.host}/berth/chunked:latest`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      monolithicMaxBytes: 100 * 1024,
      chunkBytes: 64 * 1024,
    });
    const dst = await openContentStore(join(dir, 'dst3'));
    const pulled = await pullImage({ reference: `${registry.host}/berth/chunked@${pushed.digest}`, store: dst, configPath });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    for (const [digest, bytes] of image.blobs) assert.ok((await dst.readBytes(digest)).equals(bytes), `blob ${digest}`);
  });

  test('cross-repository mount: blobs are mounted, not uploaded', async () => {
    const src = await storeWithImage(join(dir, 'src4'), image);
    await pushImage({ reference: `${registry.host}/berth/origin:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const events: ProgressEvent[] = [];
    const pushed = await pushImage({
      reference: `${registry.host}/other/copy:1`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      mountCandidates: () => ['berth/origin'],
      progress: (e) => events.push(e),
    });
    assert.deepEqual(pushed.uploaded, []);
    assert.equal(pushed.mounted.length, image.manifest.layers.length + 1);
    assert.equal(events.filter((e) => e.status === 'Mounted from berth/origin').length, image.manifest.layers.length);
    // And the mounted repository serves the image.
    const dst = await openContentStore(join(dir, 'dst4'));
    const pulled = await pullImage({ reference: `${registry.host}/other/copy:1`, store: dst, configPath });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
  });

  test('an OCI image pushed by berth is readable by skopeo, and skopeo agrees on the digest', async () => {
    const oci = await makeTestImage(join(dir), { oci: true });
    const src = await storeWithImage(join(dir, 'src5'), oci);
    await pushImage({ reference: `${registry.host}/berth/oci:v1`, store: src, manifestDescriptor: oci.manifestDescriptor, configPath, alsoByDigest: true });
    const res = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/berth/oci:v1`]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(sha(Buffer.from(res.stdout)), oci.manifestDescriptor.digest);
    const layout = join(dir, 'skopeo-layout');
    const copy = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/berth/oci@${oci.manifestDescriptor.digest}`, `oci:${layout}`]);
    assert.equal(copy.code, 0, copy.stderr);
    const blobs = await readdir(join(layout, 'blobs', 'sha256'));
    for (const digest of oci.blobs.keys()) assert.ok(blobs.includes(digest.slice(7)), `skopeo copied ${digest}`);
  });

  test('a partial download left in ingest is resumed with Range and completed byte-identical', async () => {
    const src = await storeWithImage(join(dir, 'src-resume'), image);
    await pushImage({ reference: `${registry.host}/berth/resume:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    const dst = await openContentStore(join(dir, 'dst-resume'));
    // What an interrupted earlier pull leaves behind: the first bytes of a layer under its pull ref.
    const layer = image.manifest.layers[1]!;
    const partial = await dst.ingest(`pull:${layer.digest}`);
    await partial.write(image.blobs.get(layer.digest)!.subarray(0, 100_000));
    await partial.close();
    const events: ProgressEvent[] = [];
    await pullImage({ reference: `${registry.host}/berth/resume:1`, store: dst, configPath, progress: (e) => events.push(e) });
    assert.ok((await dst.readBytes(layer.digest)).equals(image.blobs.get(layer.digest)!));
    const first = events.find((e) => e.id === layer.digest.slice(7, 19) && e.status === 'Downloading');
    assert.ok(first && first.current! > 100_000, 'progress starts past the resumed part');
    assert.deepEqual(await dst.listIngests(), []);
  });

  test('login to a registry without auth succeeds and stores the entry; logout removes it', async () => {
    const cfg = join(dir, 'noauth-docker', 'config.json');
    const res = await login({ registry: registry.host, username: 'anyone', password: 'pw', configPath: cfg });
    assert.equal(res.status, 'Login Succeeded');
    assert.equal(JSON.parse(await readFile(cfg, 'utf8')).auths[registry.host].auth, Buffer.from('anyone:pw').toString('base64'));
    assert.equal((await logout({ registry: registry.host, configPath: cfg })).removed, true);
  });

  test('pulling a tag that does not exist is a clear 404', async () => {
    const dst = await openContentStore(join(dir, 'dst6'));
    await assert.rejects(pullImage({ reference: `${registry.host}/berth/busybox:nope`, store: dst, configPath }), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_NOT_FOUND');
      assert.equal(err.status, 404);
      assert.match(err.message, /berth\/busybox:nope/);
      assert.match(err.message, /MANIFEST_UNKNOWN/);
      return true;
    });
  });
});
