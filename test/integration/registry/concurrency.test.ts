import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestRegistry, sha256, putManifest, OCI_MANIFEST } from './registry-fixture.ts';

/** One image pushed the way docker does: POST, streamed PATCH, PUT; then the manifest. */
async function pushImage(url: string, name: string, tag: string): Promise<{ digest: string; layer: Buffer }> {
  const layer = randomBytes(256 * 1024 + Math.floor(Math.random() * 1024));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', name, tag }));
  for (const blob of [layer, config]) {
    const post = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const patch = await fetch(`${url}${post.headers.get('location')}`, { method: 'PATCH', body: blob });
    assert.equal(patch.status, 202);
    const put = await fetch(`${url}${patch.headers.get('location')}?digest=${sha256(blob)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    }),
  );
  assert.equal((await putManifest(url, name, tag, manifest)).status, 201);
  return { digest: sha256(manifest), layer };
}

test('many clients pushing and pulling at once: every image lands intact under its own tag', async () => {
  const reg = await startTestRegistry();
  try {
    const jobs = Array.from({ length: 12 }, (_, i) => ({ name: `conc/repo${i % 4}`, tag: `t${i}` }));
    const pushed = await Promise.all(jobs.map((j) => pushImage(reg.url, j.name, j.tag)));
    // Readers and a second round of writers at the same time.
    const reads = jobs.map(async (j, i) => {
      const m = await fetch(`${reg.url}/v2/${j.name}/manifests/${j.tag}`);
      assert.equal(m.headers.get('docker-content-digest'), pushed[i]!.digest);
      await m.arrayBuffer();
      const blob = await fetch(`${reg.url}/v2/${j.name}/blobs/${sha256(pushed[i]!.layer)}`);
      assert.ok(Buffer.from(await blob.arrayBuffer()).equals(pushed[i]!.layer));
    });
    const writes = jobs.map((j) => pushImage(reg.url, j.name, `${j.tag}-again`));
    await Promise.all([...reads, ...writes]);

    for (let r = 0; r < 4; r++) {
      const tags = (await (await fetch(`${reg.url}/v2/conc/repo${r}/tags/list`)).json()) as { tags: string[] };
      const expected = jobs.filter((j) => j.name === `conc/repo${r}`).flatMap((j) => [j.tag, `${j.tag}-again`]).sort();
      assert.deepEqual(tags.tags, expected);
    }
    const catalog = (await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['conc/repo0', 'conc/repo1', 'conc/repo2', 'conc/repo3']);
  } finally {
    await reg.close();
  }
});
