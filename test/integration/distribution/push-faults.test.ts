/**
 * Push against a misbehaving registry on loopback: failed uploads are retried
 * from a fresh session, a refused mount falls back to uploading, a registry
 * that rewrites the manifest is caught, and bad input from the local store is
 * refused before anything is sent.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { openContentStore } from '../../../src/content/local.ts';
import type { LocalContentStore } from '../../../src/content/local.ts';
import { pushImage } from '../../../src/distribution/push.ts';
import { pullImage } from '../../../src/distribution/pull.ts';
import type { ProgressEvent } from '../../../src/common/progress.ts';
import { startFakeRegistry } from './fake-registry.ts';
import type { FakeRegistry } from './fake-registry.ts';
import { makeTestImage, storeWithImage } from './fixtures.ts';
import type { TestImage } from './fixtures.ts';

const configPath = '/nonexistent/berth-test/config.json';

describe('push to a misbehaving registry', () => {
  let dir: string;
  let fake: FakeRegistry;
  let image: TestImage;
  let src: LocalContentStore;
  let n = 0;

  before(async () => {
    dir = await makeTempDir('berth-dist-push-');
    image = await makeTestImage(dir, { busybox: false, extraLayers: 3, extraLayerBytes: 150 * 1024 });
    src = await storeWithImage(join(dir, 'src'), image);
  });
  beforeEach(async () => {
    fake = await startFakeRegistry();
  });
  after(async () => {
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });
  const closeFake = async () => fake.close();

  test('an upload the registry fails with 500 is retried in a new session; the image arrives intact', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[1]!;
    let failed = 0;
    fake.overrides.push((req, res) => {
      if (req.method === 'PUT' && req.url?.includes(encodeURIComponent(layer.digest)) && failed === 0) {
        failed++;
        req.resume();
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"disk hiccup"}]}');
        return true;
      }
      return false;
    });
    const pushed = await pushImage({ reference: `${fake.host}/a/b:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath });
    assert.equal(failed, 1);
    assert.equal(pushed.digest, image.manifestDescriptor.digest);
    const posts = fake.requests.filter((r) => r.method === 'POST').length;
    assert.equal(posts, image.manifest.layers.length + 1 + 1, 'one extra upload session for the retry');
    const dst = await openContentStore(join(dir, `dst-${n++}`));
    await pullImage({ reference: `${fake.host}/a/b:1`, store: dst, configPath });
    for (const [d, b] of image.blobs) assert.ok((await dst.readBytes(d)).equals(b));
  });

  test('a registry that keeps failing: the push stops with the registry error and no manifest is written', async (t) => {
    t.after(closeFake);
    fake.overrides.push((req, res) => {
      if (req.method !== 'PUT' || !req.url?.includes('/blobs/uploads/')) return false;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}');
      return true;
    });
    await assert.rejects(
      pushImage({ reference: `${fake.host}/a/b:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath, retries: 1 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BERTH_DISTRIBUTION_REGISTRY_ERROR');
        assert.match(err.message, /HTTP 503: UNAVAILABLE: maintenance/);
        return true;
      },
    );
    assert.ok(!fake.requests.some((r) => r.method === 'PUT' && r.url.includes('/manifests/')));
  });

  test('a refused cross-repo mount (202) falls back to uploading into the session it opened', async (t) => {
    t.after(closeFake);
    const events: ProgressEvent[] = [];
    const pushed = await pushImage({
      reference: `${fake.host}/a/b:1`,
      store: src,
      manifestDescriptor: image.manifestDescriptor,
      configPath,
      mountCandidates: () => ['elsewhere/repo'],
      progress: (e) => events.push(e),
    });
    assert.deepEqual(pushed.mounted, []);
    assert.equal(pushed.uploaded.length, image.manifest.layers.length + 1);
    assert.ok(fake.requests.some((r) => r.method === 'POST' && r.url.includes('mount=') && r.url.includes('from=elsewhere%2Frepo')));
    assert.equal(events.filter((e) => e.status === 'Pushed').length, image.manifest.layers.length);
  });

  test('a registry that stores the manifest under another digest is reported', async (t) => {
    t.after(closeFake);
    fake.overrides.push((req, res) => {
      if (req.method !== 'PUT' || !req.url?.includes('/manifests/')) return false;
      req.resume();
      res.writeHead(201, { 'docker-content-digest': `sha256:${'0'.repeat(64)}`, 'content-length': '0' }).end();
      return true;
    });
    await assert.rejects(pushImage({ reference: `${fake.host}/a/b:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath }), /rewrote the manifest/);
  });

  test('a local blob whose size differs from the manifest is refused before any upload', async (t) => {
    t.after(closeFake);
    const wrong = { ...image.manifest, layers: image.manifest.layers.map((l, i) => (i === 0 ? { ...l, size: l.size + 1 } : l)) };
    const bytes = Buffer.from(JSON.stringify(wrong));
    const info = await src.writeBytes(bytes);
    await assert.rejects(
      pushImage({ reference: `${fake.host}/a/b:bad`, store: src, manifestDescriptor: { mediaType: image.manifestDescriptor.mediaType, digest: info.digest, size: info.size }, configPath }),
      { code: 'BERTH_DISTRIBUTION_SIZE_MISMATCH' },
    );
    assert.ok(!fake.requests.some((r) => r.method === 'PUT' && r.url.includes('/manifests/')));
  });

  test('a reference that does not parse is refused before any request', async (t) => {
    t.after(closeFake);
    await assert.rejects(
      pushImage({ reference: `${fake.host}/UPPER/case:1`, store: src, manifestDescriptor: image.manifestDescriptor, configPath }),
      (err: Error & { code?: string }) => err.code?.startsWith('BERTH_REFERENCE_') === true,
    );
    await assert.rejects(pullImage({ reference: 'bad ref!!', store: src, configPath }), (err: Error & { code?: string }) => err.code?.startsWith('BERTH_REFERENCE_') === true);
    assert.deepEqual(fake.requests, []);
  });
});
