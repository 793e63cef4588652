import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry } from './registry-fixture.ts';
import { makeBusyboxLayout } from './oci-layout-fixture.ts';

const run = promisify(execFile);

test('podman pushes to and pulls from the berth registry', { timeout: 300_000 }, async () => {
  const reg = await startTestRegistry();
  try {
    const host = reg.url.replace('http://', '');
    const d = join(reg.dir, 'podman');
    // A private podman store (vfs: no mounts to leave behind) that touches nothing of the host's.
    const podman = async (args: string[]): Promise<string> => {
      const base = ['--root', join(d, 'root'), '--runroot', join(d, 'run'), '--tmpdir', join(d, 'tmp'), '--storage-driver', 'vfs', '--events-backend=file', '--cgroup-manager=cgroupfs'];
      try {
        return (await run('podman', [...base, ...args], { maxBuffer: 16 << 20 })).stdout;
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`podman ${args.join(' ')} failed: ${e.stderr || e.message}`);
      }
    };
    const layout = await makeBusyboxLayout(join(reg.dir, 'work'), join(reg.dir, 'layout'), 'v1');
    // Via a docker-archive: `podman pull oci:DIR` would name the image after DIR, which has capitals.
    const archive = join(reg.dir, 'busybox.tar');
    await run('skopeo', ['copy', `oci:${layout.dir}:v1`, `docker-archive:${archive}:bb:v1`]);
    await podman(['load', '-i', archive]);
    const id = (await podman(['images', '-q', '--no-trunc'])).trim().split('\n')[0]!.replace(/^sha256:/, '');
    await podman(['tag', id, `${host}/pd/busybox:v1`]);
    await podman(['push', '--tls-verify=false', `${host}/pd/busybox:v1`]);

    const tags = (await (await fetch(`${reg.url}/v2/pd/busybox/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);

    await podman(['rmi', '-a', '-f']);
    assert.equal((await podman(['images', '-q'])).trim(), '');
    await podman(['pull', '--tls-verify=false', `${host}/pd/busybox:v1`]);
    const inspect = JSON.parse(await podman(['image', 'inspect', `${host}/pd/busybox:v1`])) as { Id: string; RootFS: { Layers: string[] } }[];
    assert.equal(inspect[0]!.Id, id, 'same image (config digest) after the round trip');
    assert.equal(inspect[0]!.RootFS.Layers.length, 2);
  } finally {
    await reg.close();
  }
});
