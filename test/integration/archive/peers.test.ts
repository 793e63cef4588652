import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerRegistry } from '../../helpers/peers/docker-registry.ts';
import type { DockerRegistry } from '../../helpers/peers/docker-registry.ts';
import { startDockerd } from '../../helpers/peers/dockerd.ts';
import { startPodman } from '../../helpers/peers/podman.ts';
import { skopeoCopy, skopeoInspect } from '../../helpers/peers/skopeo.ts';
import { makeBusyboxOciLayout } from '../../helpers/peers/oci-image.ts';
import { pidsReferencing, mountsUnder } from '../../helpers/peers/process.ts';

/** Each harness starts the real peer, does real work with it and leaves nothing behind. */

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('peer harnesses', () => {
  let work = '';
  let registry: DockerRegistry | undefined;
  let imageRef = '';

  before(async () => {
    work = await makeTempDir('berth-peers-test-');
    registry = await startDockerRegistry();
    const { src } = await makeBusyboxOciLayout(work);
    imageRef = `${registry.host}/test/busybox:1`;
    await skopeoCopy(src, `docker://${imageRef}`, { tmpdir: work });
  });

  after(async () => {
    await registry?.stop();
    await removeTempDir(work);
  });

  test('docker-registry serves what skopeo pushed, and stops cleanly', async () => {
    assert.ok(registry);
    const tags = await (await fetch(`${registry.url}/v2/test/busybox/tags/list`)).json();
    assert.deepEqual(tags, { name: 'test/busybox', tags: ['1'] });
    const inspected = await skopeoInspect(`docker://${imageRef}`);
    assert.equal(inspected.Layers.length, 1);
    assert.deepEqual(inspected.Env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  test('docker-registry with htpasswd refuses anonymous and accepts the user', async () => {
    const secured = await startDockerRegistry({ htpasswd: { alice: 's3cret' } });
    try {
      const anon = await fetch(`${secured.url}/v2/`);
      assert.equal(anon.status, 401);
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm="berth-test"/);
      const good = await fetch(`${secured.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` } });
      assert.equal(good.status, 200);
      const bad = await fetch(`${secured.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
      assert.equal(bad.status, 401);
    } finally {
      await secured.stop();
    }
    assert.equal(isAlive(secured.pid), false);
    assert.equal(existsSync(secured.dir), false);
  });

  test('dockerd answers, pulls from the loopback registry, runs a container, and stop() leaves nothing', async () => {
    const dockerd = await startDockerd();
    try {
      const version = await dockerd.dockerOk(['version', '--format', '{{.Server.Version}}']);
      assert.match(version.stdout.trim(), /^20\.10\./);
      await dockerd.dockerOk(['pull', '-q', imageRef], { timeoutMs: 120_000 });
      const run = await dockerd.dockerOk(['run', '--rm', '--network', 'none', imageRef, 'sh', '-c', 'echo hi from $(uname -s)']);
      assert.equal(run.stdout, 'hi from Linux\n');
      // A container left running must be cleaned up by stop().
      await dockerd.dockerOk(['run', '-d', '--network', 'none', imageRef, 'sleep', '1000']);
      assert.ok(mountsUnder(dockerd.dir).length > 0, 'a running container has an overlay mount');
    } finally {
      await dockerd.stop();
    }
    assert.equal(isAlive(dockerd.pid), false);
    assert.deepEqual(mountsUnder(dockerd.dir), []);
    assert.deepEqual(pidsReferencing(dockerd.dir), []);
    assert.equal(existsSync(dockerd.dir), false);
  });

  test('podman pulls from the loopback registry, runs a container, and stop() leaves nothing', async () => {
    assert.ok(registry);
    const podman = await startPodman({ insecureRegistries: [registry.host] });
    try {
      await podman.podmanOk(['pull', '-q', imageRef], { timeoutMs: 120_000 });
      const run = await podman.podmanOk(['run', '--rm', '--network', 'none', imageRef, 'echo', 'hi']);
      assert.equal(run.stdout, 'hi\n');
      await podman.podmanOk(['run', '-d', '--network', 'none', imageRef, 'sleep', '1000']);
      assert.ok(mountsUnder(podman.dir).length > 0, 'a running container has an overlay mount');
    } finally {
      await podman.stop();
    }
    assert.deepEqual(mountsUnder(podman.dir), []);
    assert.deepEqual(pidsReferencing(podman.dir), []);
    assert.equal(existsSync(podman.dir), false);
  });
});
