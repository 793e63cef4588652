import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../../../src/registry/server.ts';
import { collectGarbage } from '../../../src/registry/gc.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { pushBlob, pushImageBlobs, putManifest, sha256 } from './registry-fixture.ts';

async function blobsOnDisk(root: string): Promise<string[]> {
  return (await readdir(join(root, 'content', 'blobs', 'sha256'))).map((h) => `sha256:${h}`).sort();
}

test('gc deletes blobs no stored manifest references, refuses while a server owns the root, and the image still pulls', async () => {
  const dir = await makeTempDir('berth-registry-gc-');
  const root = join(dir, 'root');
  let server: RunningRegistry | undefined = await startRegistry({ addr: '127.0.0.1:0', root });
  try {
    const url = server.url;
    const kept = await pushImageBlobs(url, 'gc/app', 'kept');
    assert.equal((await putManifest(url, 'gc/app', 'v1', kept.manifest)).status, 201);
    const gone = await pushImageBlobs(url, 'gc/app', 'gone');
    assert.equal((await putManifest(url, 'gc/app', 'v2', gone.manifest)).status, 201);
    assert.equal((await fetch(`${url}/v2/gc/app/manifests/${gone.digest}`, { method: 'DELETE' })).status, 202);
    const loose = await pushBlob(url, 'gc/scratch', Buffer.from('blob no manifest names'));
    // A layer unlinked from its repository but still named by a live manifest must survive.
    assert.equal((await fetch(`${url}/v2/gc/app/blobs/${kept.layer}`, { method: 'DELETE' })).status, 202);

    await assert.rejects(collectGarbage(root), (err: unknown) => isBerthError(err, 'BERTH_REGISTRY_ROOT_BUSY') && /in use by process/.test((err as Error).message));
    await assert.rejects(startRegistry({ addr: '127.0.0.1:0', root }), (err: unknown) => isBerthError(err, 'BERTH_REGISTRY_ROOT_BUSY'));
    await server.close();
    server = undefined;

    const before = await blobsOnDisk(root);
    const garbage = [gone.digest, gone.config, gone.layer, loose].sort();
    const dry = await collectGarbage(root, { dryRun: true });
    assert.deepEqual(dry.removed.map((b) => b.digest).sort(), garbage);
    assert.deepEqual(await blobsOnDisk(root), before, 'dry run deletes nothing');

    const real = await collectGarbage(root);
    assert.deepEqual(real.removed.map((b) => b.digest).sort(), garbage);
    assert.equal(real.kept, 3);
    assert.deepEqual(await blobsOnDisk(root), [kept.digest, kept.config, kept.layer].sort());

    server = await startRegistry({ addr: '127.0.0.1:0', root });
    // Links to collected blobs are gone with them.
    assert.equal((await fetch(`${server.url}/v2/gc/scratch/blobs/${loose}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await readdir(join(root, 'repositories', 'gc', 'scratch', '_layers')), []);
    const get = await fetch(`${server.url}/v2/gc/app/manifests/v1`);
    assert.equal(get.status, 200);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), kept.digest);
    assert.equal((await fetch(`${server.url}/v2/gc/app/blobs/${kept.config}`, { method: 'HEAD' })).status, 200);
  } finally {
    await server?.close();
    await removeTempDir(dir);
  }
});

test('upload sessions older than the limit are purged; younger ones stay', async () => {
  const dir = await makeTempDir('berth-registry-purge-');
  const server = await startRegistry({ addr: '127.0.0.1:0', root: join(dir, 'root') });
  try {
    const start = async () => {
      const res = await fetch(`${server.url}/v2/purge/me/blobs/uploads/`, { method: 'POST' });
      const loc = res.headers.get('location')!;
      await fetch(`${server.url}${loc}`, { method: 'PATCH', body: 'partial', headers: { 'Content-Range': '0-6' } });
      return loc;
    };
    const old = await start();
    const hourLater = Date.now() + 3600_000;
    assert.equal(await server.registry.purgeStaleUploads(24 * 3600_000, hourLater), 0);
    assert.equal((await fetch(`${server.url}${old}`)).status, 204);
    assert.equal(await server.registry.purgeStaleUploads(1800_000, hourLater), 1);
    const res = await fetch(`${server.url}${old}`);
    assert.equal(res.status, 404);
  } finally {
    await server.close();
    await removeTempDir(dir);
  }
});
