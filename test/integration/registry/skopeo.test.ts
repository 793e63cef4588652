import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type RegistryFixture } from './registry-fixture.ts';
import { addIndexTag, makeBusyboxLayout, type BuiltLayout } from './oci-layout-fixture.ts';

const run = promisify(execFile);

/** skopeo with loopback-only, plain-HTTP settings; a failure shows skopeo's own stderr. */
async function skopeo(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('skopeo', args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

async function blobSet(layoutDir: string): Promise<Map<string, Buffer>> {
  const dir = join(layoutDir, 'blobs', 'sha256');
  const out = new Map<string, Buffer>();
  for (const name of await readdir(dir)) out.set(name, await readFile(join(dir, name)));
  return out;
}

describe('skopeo interoperates with the berth registry', () => {
  let reg: RegistryFixture;
  let layout: BuiltLayout;
  let host: string;

  before(async () => {
    reg = await startTestRegistry();
    host = reg.url.replace('http://', '');
    layout = await makeBusyboxLayout(join(reg.dir, 'work'), join(reg.dir, 'src-layout'), 'v1');
  });
  after(async () => {
    await reg?.close();
  });

  test('skopeo copy oci: → docker:// pushes; skopeo inspect sees the image', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/x/busybox:v1`]);
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${host}/x/busybox:v1`])) as {
      Digest: string;
      RepoTags: string[];
      Layers: string[];
      Architecture: string;
      Os: string;
    };
    assert.equal(info.Digest, layout.manifestDigest);
    assert.deepEqual(info.RepoTags, ['v1']);
    assert.deepEqual(info.Layers, layout.layerDigests);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/x/busybox:v1`]);
    assert.equal(raw, layout.manifestBytes.toString());
    const config = JSON.parse(await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${host}/x/busybox:v1`])) as { rootfs: { diff_ids: string[] } };
    assert.equal(config.rootfs.diff_ids.length, 2);
  });

  test('skopeo copy docker:// → oci: pulls back byte-identical blobs', async () => {
    const dst = join(reg.dir, 'dst-layout');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/x/busybox:v1`, `oci:${dst}:v1`]);
    const src = await blobSet(layout.dir);
    const got = await blobSet(dst);
    assert.deepEqual([...got.keys()].sort(), [...src.keys()].sort());
    for (const [name, bytes] of got) assert.ok(bytes.equals(src.get(name)!), `blob ${name} differs`);
  });

  test('skopeo copy between repositories of the registry, list-tags and delete', async () => {
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host}/x/busybox:v1`, `docker://${host}/y/copy:v2`]);
    const tags = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${host}/y/copy`])) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['v2']);
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${host}/y/copy:v2`])) as { Digest: string };
    assert.equal(info.Digest, layout.manifestDigest);

    await skopeo(['delete', '--tls-verify=false', `docker://${host}/y/copy:v2`]);
    await assert.rejects(skopeo(['inspect', '--tls-verify=false', `docker://${host}/y/copy:v2`]), /manifest unknown|not found|MANIFEST_UNKNOWN/i);
    // The source repository is untouched.
    const still = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${host}/x/busybox:v1`])) as { Digest: string };
    assert.equal(still.Digest, layout.manifestDigest);
  });

  test('skopeo copy --all pushes and pulls a multi-platform image index', async () => {
    const { indexDigest, indexBytes } = await addIndexTag(layout, 'multi');
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${host}/x/multi:v1`]);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/x/multi:v1`]);
    assert.equal(raw, indexBytes.toString());
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${host}/x/multi:v1`])) as { Digest: string };
    assert.equal(info.Digest, indexDigest);

    const dst = join(reg.dir, 'multi-dst');
    await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${host}/x/multi:v1`, `oci:${dst}:v1`]);
    const got = await blobSet(dst);
    assert.ok(got.get(indexDigest.slice(7))?.equals(indexBytes), 'index bytes identical');
    assert.ok(got.get(layout.manifestDigest.slice(7))?.equals(layout.manifestBytes), 'manifest bytes identical');
  });
});
