/**
 * Pull against a misbehaving registry on loopback: wrong bytes, cut-off and
 * resumed transfers, unknown media types, manifests that do not match their
 * digest, redirects to another origin, index platform selection, and the
 * bounded parallelism of layer downloads.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { openContentStore } from '../../../src/content/local.ts';
import type { LocalContentStore } from '../../../src/content/local.ts';
import { pullImage } from '../../../src/distribution/pull.ts';
import { RegistryClient } from '../../../src/distribution/client.ts';
import { MediaTypes } from '../../../src/oci/image-spec.ts';
import type { ImageIndex } from '../../../src/oci/image-spec.ts';
import { startFakeRegistry, isBlobGet } from './fake-registry.ts';
import type { FakeRegistry } from './fake-registry.ts';
import { makeTestImage, sha } from './fixtures.ts';
import type { TestImage } from './fixtures.ts';

const configPath = '/nonexistent/berth-test/config.json';

function serve(fake: FakeRegistry, image: TestImage, tag = 'latest'): void {
  const entry = { contentType: image.manifestDescriptor.mediaType, bytes: image.manifestBytes, digestHeader: image.manifestDescriptor.digest };
  fake.manifests.set(tag, entry);
  fake.manifests.set(image.manifestDescriptor.digest, entry);
  for (const [d, b] of image.blobs) fake.blobs.set(d, b);
}

async function blobFiles(store: LocalContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out.sort();
}

describe('pull from a misbehaving registry', () => {
  let dir: string;
  let fake: FakeRegistry;
  let image: TestImage;
  let n = 0;
  let store: LocalContentStore;

  before(async () => {
    dir = await makeTempDir('berth-dist-faults-');
    image = await makeTestImage(dir, { busybox: false, extraLayers: 5, extraLayerBytes: 200 * 1024 });
  });
  beforeEach(async () => {
    fake = await startFakeRegistry();
    serve(fake, image);
    store = await openContentStore(join(dir, `store-${n++}`));
  });
  after(async () => {
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });
  const closeFake = async () => fake.close();

  test('a blob whose bytes do not match its digest is refused and nothing of it is stored', async (t) => {
    t.after(closeFake);
    const bad = image.manifest.layers[2]!;
    const wrong = Buffer.from(image.blobs.get(bad.digest)!);
    wrong[100] ^= 0xff; // same size, different content
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, bad.digest)) return false;
      res.writeHead(200, { 'content-length': String(wrong.length) }).end(wrong);
      return true;
    });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:latest`, store, configPath }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_DIGEST_MISMATCH');
      assert.match(err.message, new RegExp(bad.digest));
      assert.match(err.message, /nothing was stored/);
      return true;
    });
    assert.equal(await store.has(bad.digest), false);
    assert.ok(!(await blobFiles(store)).includes(sha(wrong)), 'the wrong bytes are not in the store under their own digest either');
    assert.ok(!(await store.listIngests()).includes(`pull:${bad.digest}`), 'wrong bytes are not kept for resuming');
  });

  test('a registry sending more bytes than the manifest says is refused', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[0]!;
    const longer = Buffer.concat([image.blobs.get(layer.digest)!, Buffer.from('trailing garbage')]);
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      res.writeHead(200).end(longer); // chunked, no content-length: caught while streaming
      return true;
    });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y`, store, configPath }), { code: 'BERTH_DISTRIBUTION_SIZE_MISMATCH' });
    assert.equal(await store.has(layer.digest), false);
  });

  test('a truncated download is refused, its partial data stays in ingest (not served), and the next pull resumes with Range', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[1]!;
    const full = image.blobs.get(layer.digest)!;
    const cut = 70_000;
    let honourRange = false;
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      const range = req.headers.range;
      if (honourRange && range) {
        const start = Number(/bytes=(\d+)-/.exec(range)![1]);
        res.writeHead(206, { 'content-length': String(full.length - start), 'content-range': `bytes ${start}-${full.length - 1}/${full.length}` }).end(full.subarray(start));
        return true;
      }
      // Announce the whole blob, send a part, then drop the connection.
      res.writeHead(200, { 'content-length': String(full.length) });
      res.write(full.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
      return true;
    });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y`, store, configPath, retries: 0 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_TRUNCATED');
      assert.match(err.message, new RegExp(`${layer.digest}.*${cut} of ${full.length} bytes`));
      return true;
    });
    assert.equal(await store.has(layer.digest), false, 'a partial blob is never served');
    assert.ok((await store.listIngests()).includes(`pull:${layer.digest}`));
    assert.equal(await store.ingestOffset(`pull:${layer.digest}`), cut);

    honourRange = true;
    const before = fake.requests.length;
    const pulled = await pullImage({ reference: `${fake.host}/x/y`, store, configPath });
    const rangeAsks = fake.requests.slice(before).filter((r) => r.url.endsWith(layer.digest) && r.method === 'GET').map((r) => r.headers.range);
    assert.deepEqual(rangeAsks, [`bytes=${cut}-`]);
    assert.ok((await store.readBytes(layer.digest)).equals(full));
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.deepEqual(await store.listIngests(), []);
  });

  test('a broken transfer is retried by itself, resuming where it stopped', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[3]!;
    const full = image.blobs.get(layer.digest)!;
    let calls = 0;
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      calls++;
      const range = req.headers.range;
      if (range) {
        const start = Number(/bytes=(\d+)-/.exec(range)![1]);
        res.writeHead(206, { 'content-length': String(full.length - start), 'content-range': `bytes ${start}-${full.length - 1}/${full.length}` }).end(full.subarray(start));
        return true;
      }
      res.writeHead(200, { 'content-length': String(full.length) });
      res.write(full.subarray(0, 50_000), () => setTimeout(() => res.destroy(), 20));
      return true;
    });
    await pullImage({ reference: `${fake.host}/x/y`, store, configPath });
    assert.equal(calls, 2);
    assert.ok((await store.readBytes(layer.digest)).equals(full));
  });

  test('a registry that ignores Range makes the pull start that blob over, still verified', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[4]!;
    const full = image.blobs.get(layer.digest)!;
    let first = true;
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      res.writeHead(200, { 'content-length': String(full.length) });
      if (first) {
        first = false;
        res.write(full.subarray(0, 30_000), () => setTimeout(() => res.destroy(), 20));
      } else res.end(full);
      return true;
    });
    await pullImage({ reference: `${fake.host}/x/y`, store, configPath });
    assert.ok((await store.readBytes(layer.digest)).equals(full));
  });

  test('a manifest with an unknown media type is a clear error and nothing is stored', async (t) => {
    t.after(closeFake);
    const odd = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example.thing+json', config: image.manifest.config, layers: [] }));
    fake.manifests.set('odd', { contentType: 'application/vnd.example.thing+json', bytes: odd });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:odd`, store, configPath }), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST');
      assert.equal(err.status, 400);
      assert.match(err.message, /application\/vnd\.example\.thing\+json/);
      assert.match(err.message, /x\/y@odd/);
      return true;
    });
    assert.deepEqual(await blobFiles(store), []);
  });

  test('an OCI artifact (non-image config media type) is refused before any blob is fetched', async (t) => {
    t.after(closeFake);
    const helm = Buffer.from(
      JSON.stringify({ ...image.manifest, mediaType: MediaTypes.ociManifest, config: { ...image.manifest.config, mediaType: 'application/vnd.cncf.helm.config.v1+json' } }),
    );
    fake.manifests.set('chart', { contentType: MediaTypes.ociManifest, bytes: helm });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:chart`, store, configPath }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNSUPPORTED_MANIFEST');
      assert.match(err.message, /is not a container image.*application\/vnd\.cncf\.helm\.config\.v1\+json/);
      return true;
    });
    assert.ok(!fake.requests.some((r) => r.url.includes('/blobs/')));
    assert.deepEqual(await blobFiles(store), []);
  });

  test('a schema 1 manifest is refused by name', async (t) => {
    t.after(closeFake);
    const v1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x/y', tag: 'old', fsLayers: [], history: [] }));
    fake.manifests.set('old', { contentType: MediaTypes.dockerManifestV1Signed, bytes: v1 });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:old`, store, configPath }), /schema 1 is deprecated and not supported/);
  });

  test('a manifest that does not hash to the digest asked for is refused; so is one contradicting Docker-Content-Digest', async (t) => {
    t.after(closeFake);
    const other = Buffer.from(image.manifestBytes.toString().replace('"schemaVersion": 2', '"schemaVersion":2'));
    fake.manifests.set(image.manifestDescriptor.digest, { contentType: MediaTypes.dockerManifest, bytes: other });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y@${image.manifestDescriptor.digest}`, store, configPath }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_DIGEST_MISMATCH');
      assert.match(err.message, new RegExp(`not the ${image.manifestDescriptor.digest} asked for`));
      return true;
    });
    fake.manifests.set('lying', { contentType: MediaTypes.dockerManifest, bytes: other, digestHeader: image.manifestDescriptor.digest });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:lying`, store, configPath }), /Docker-Content-Digest says/);
    assert.deepEqual(await blobFiles(store), []);
  });

  test('layers are fetched in parallel, never more at once than asked', async (t) => {
    t.after(closeFake);
    // Hold every blob answer until three are waiting (or a second has passed), so
    // overlap is observed without depending on timing.
    const waiting: (() => void)[] = [];
    fake.overrides.push((req, res) => {
      if (req.method !== 'GET' || !/\/blobs\//.test(req.url ?? '')) return false;
      const digest = req.url!.split('/blobs/')[1]!;
      const bytes = fake.blobs.get(digest)!;
      fake.inflight.now++;
      fake.inflight.max = Math.max(fake.inflight.max, fake.inflight.now);
      const answer = () => {
        fake.inflight.now--;
        res.writeHead(200, { 'content-length': String(bytes.length) }).end(bytes);
      };
      waiting.push(answer);
      if (waiting.length >= 3) for (const a of waiting.splice(0)) a();
      else
        setTimeout(() => {
          const i = waiting.indexOf(answer);
          if (i >= 0) waiting.splice(i, 1)[0]!();
        }, 1000);
      return true;
    });
    const pulled = await pullImage({ reference: `${fake.host}/x/y`, store, configPath, concurrency: 3 });
    assert.equal(fake.inflight.max, 3);
    assert.equal(pulled.downloaded.length, image.manifest.layers.length);
  });

  test('two concurrent pulls sharing layers fetch each blob once; a shared download that fails is retried by the other pull', async (t) => {
    t.after(closeFake);
    const [a, b] = await Promise.all([
      pullImage({ reference: `${fake.host}/x/one`, store, configPath }),
      pullImage({ reference: `${fake.host}/x/two`, store, configPath }),
    ]);
    assert.equal(a.digest, b.digest);
    for (const l of image.manifest.layers) {
      assert.equal(fake.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${l.digest}`)).length, 1, `one GET for ${l.digest}`);
    }
    // Now repository x/broken cannot serve a layer, x/fine can: the pull from x/fine still succeeds.
    // The x/broken pull claims the download first; x/fine starts once it has, and
    // joins it; the 404 is held back until x/fine is under way.
    const other = await openContentStore(join(dir, `store-shared-${n++}`));
    const layer = image.manifest.layers[0]!;
    let startFine!: () => void;
    const brokenClaimed = new Promise<void>((r) => (startFine = r));
    let fineSeen!: () => void;
    const fineStarted = new Promise<void>((r) => (fineSeen = r));
    fake.overrides.push((req) => {
      if (req.url?.startsWith('/v2/x/fine/manifests/')) fineSeen();
      return false;
    });
    fake.overrides.push(async (req, res) => {
      if (!req.url?.startsWith('/v2/x/broken/blobs/') || !isBlobGet(req, layer.digest)) return false;
      startFine();
      await fineStarted;
      await new Promise((r) => setTimeout(r, 100));
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
      return true;
    });
    const broken = pullImage({ reference: `${fake.host}/x/broken`, store: other, configPath });
    broken.catch(() => {});
    await brokenClaimed;
    const fine = await pullImage({ reference: `${fake.host}/x/fine`, store: other, configPath });
    await assert.rejects(broken, { code: 'BERTH_DISTRIBUTION_NOT_FOUND' });
    assert.equal(fine.digest, image.manifestDescriptor.digest);
    assert.ok((await other.readBytes(layer.digest)).equals(image.blobs.get(layer.digest)!));
    assert.ok(fake.requests.some((r) => r.method === 'GET' && r.url === `/v2/x/fine/blobs/${layer.digest}`), 'x/fine fetched the layer itself after the shared download failed');
  });

  test('blob redirects are followed to another origin without our Authorization header', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[0]!;
    const seen: (string | undefined)[] = [];
    const storage: Server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-length': String(image.blobs.get(layer.digest)!.length) }).end(image.blobs.get(layer.digest));
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => storage.close(() => r())));
    const storagePort = (storage.address() as AddressInfo).port;
    fake.overrides.push((req, res) => {
      // This registry wants Basic auth for everything.
      if (req.headers.authorization !== `Basic ${Buffer.from('alice:s3cret').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      }
      if (!isBlobGet(req, layer.digest)) return false;
      res.writeHead(307, { location: `http://localhost:${storagePort}/signed/${layer.digest.slice(7)}?sig=abc` }).end();
      return true;
    });
    await pullImage({ reference: `${fake.host}/x/y`, store, configPath, credentials: { username: 'alice', password: 's3cret' } });
    assert.deepEqual(seen, [undefined]);
    assert.ok(fake.requests.some((r) => r.headers.authorization?.startsWith('Basic ')));
    assert.ok((await store.readBytes(layer.digest)).equals(image.blobs.get(layer.digest)!));
  });

  test('a registry answering 401 with no credentials stored is a clear error that says how to log in', async (t) => {
    t.after(closeFake);
    fake.overrides.push((req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return true;
    });
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y`, store, configPath }), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_UNAUTHORIZED');
      assert.equal(err.status, 401);
      assert.match(err.message, new RegExp(`no credentials are stored.*berth login ${fake.host.replace('.', '\\.')}`));
      return true;
    });
    assert.deepEqual(await blobFiles(store), []);
  });

  test('an index is narrowed to the requested platform; a platform it lacks is a clear 404', async (t) => {
    t.after(closeFake);
    const armManifest = Buffer.from(JSON.stringify({ ...image.manifest, layers: image.manifest.layers.slice(0, 1) }));
    fake.manifests.set(sha(armManifest), { contentType: MediaTypes.dockerManifest, bytes: armManifest });
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.dockerManifest, digest: sha(armManifest), size: armManifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...image.manifestDescriptor, platform: { os: 'linux', architecture: 'amd64' } },
        {
          mediaType: MediaTypes.ociManifest,
          digest: `sha256:${'a'.repeat(64)}`,
          size: 10,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        },
      ],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    fake.manifests.set('multi', { contentType: MediaTypes.ociIndex, bytes: indexBytes });
    const arm = await pullImage({ reference: `${fake.host}/x/y:multi`, store, configPath, platform: 'linux/arm64' });
    assert.equal(arm.indexDescriptor?.digest, sha(indexBytes));
    assert.equal(arm.digest, sha(indexBytes));
    assert.equal(arm.manifestDescriptor.digest, sha(armManifest));
    assert.equal(arm.layers.length, 1);
    const amd = await pullImage({ reference: `${fake.host}/x/y:multi`, store, configPath, platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(amd.manifestDescriptor.digest, image.manifestDescriptor.digest);
    assert.ok(await store.has(sha(indexBytes)), 'the index itself is kept');
    await assert.rejects(pullImage({ reference: `${fake.host}/x/y:multi`, store, configPath, platform: 'linux/s390x' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_PLATFORM_NO_MATCH');
      assert.match(err.message, /no matching manifest for linux\/s390x.*linux\/arm64\/v8, linux\/amd64/);
      return true;
    });
  });
  test('a 503 from the registry is retried after a pause; the pull then succeeds', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[2]!;
    let calls = 0;
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      calls++;
      if (calls > 1) return false;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
      return true;
    });
    await pullImage({ reference: `${fake.host}/x/y`, store, configPath });
    assert.equal(calls, 2);
    assert.ok(await store.has(layer.digest));
  });

  test('aborting a pull stops it at once (no retries) and keeps the partial data for later', async (t) => {
    t.after(closeFake);
    const layer = image.manifest.layers[0]!;
    const full = image.blobs.get(layer.digest)!;
    let calls = 0;
    fake.overrides.push((req, res) => {
      if (!isBlobGet(req, layer.digest)) return false;
      calls++;
      res.writeHead(200, { 'content-length': String(full.length) });
      res.write(full.subarray(0, 60_000)); // …and then nothing more
      return true;
    });
    const controller = new AbortController();
    const pulling = pullImage({
      reference: `${fake.host}/x/y`,
      store,
      configPath,
      signal: controller.signal,
      progress: (e) => {
        if (e.id === layer.digest.slice(7, 19) && e.status === 'Downloading') controller.abort();
      },
    });
    await assert.rejects(pulling, { name: 'AbortError' });
    assert.equal(calls, 1);
    assert.equal(await store.has(layer.digest), false);
    assert.ok((await store.listIngests()).includes(`pull:${layer.digest}`));
  });
});

describe('TLS', () => {
  test('a loopback registry speaking HTTPS with a self-signed certificate is used over HTTPS', async (t) => {
    const dir = await makeTempDir('berth-dist-tls-');
    t.after(() => removeTempDir(dir));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], {
      stdio: 'ignore',
    });
    const tlsFake = await startFakeRegistry({ tls: { key: await readFile(join(dir, 'k.pem'), 'utf8'), cert: await readFile(join(dir, 'c.pem'), 'utf8') } });
    t.after(() => tlsFake.close());
    const image = await makeTestImage(dir, { busybox: false, extraLayers: 1, extraLayerBytes: 1000 });
    serve(tlsFake, image);
    const store = await openContentStore(join(dir, 'store'));
    const pulled = await pullImage({ reference: `${tlsFake.host}/x/y`, store, configPath });
    assert.equal(pulled.digest, image.manifestDescriptor.digest);
    assert.ok(tlsFake.requests.length > 0, 'the requests reached the HTTPS server');
  });

  test('registries that are neither loopback nor listed insecure are only ever spoken to over HTTPS', async () => {
    // baseUrl() decides without any network traffic for these.
    assert.equal(await new RegistryClient({ registry: 'registry.example.com:5000', credentials: null }).baseUrl(), 'https://registry.example.com:5000');
    assert.equal(await new RegistryClient({ registry: 'docker.io', credentials: null }).baseUrl(), 'https://registry-1.docker.io');
    assert.equal(await new RegistryClient({ registry: '10.1.2.3:5000', credentials: null }).baseUrl(), 'https://10.1.2.3:5000');
  });
});
