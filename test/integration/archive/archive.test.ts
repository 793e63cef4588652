import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execFileSync } from 'node:child_process';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { startDockerd, type Dockerd } from '../../helpers/peers/dockerd.ts';
import { startPodman, type Podman } from '../../helpers/peers/podman.ts';
import { skopeoCopy, skopeoInspect } from '../../helpers/peers/skopeo.ts';
import { makeBusyboxOciLayout } from '../../helpers/peers/oci-image.ts';
import { importRootfs } from '../../../src/image/archive/import.ts';
import { saveImages } from '../../../src/image/archive/save.ts';
import { loadImages } from '../../../src/image/archive/load.ts';
import type { ImageConfig, ImageManifest } from '../../../src/oci/image-spec.ts';
import { openTestStore } from './test-store.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function saveToFile(stream: Readable, path: string): Promise<void> {
  await pipeline(stream, createWriteStream(path));
}

function tarList(path: string): string[] {
  return execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('import, save, load', () => {
  let work = '';
  let rootfsTar = '';
  let rootfs: Buffer;
  let dockerd: Dockerd | undefined;
  let podman: Podman | undefined;

  before(async () => {
    work = await makeTempDir('berth-archive-test-');
    rootfsTar = join(work, 'busybox.tar');
    await makeBusyboxTar(work, rootfsTar);
    rootfs = await readFile(rootfsTar);
  });

  after(async () => {
    await dockerd?.stop();
    await podman?.stop();
    await removeTempDir(work);
  });

  async function importedStore(name: string, options: Parameters<typeof importRootfs>[2] = { ref: 'busybox:imported' }) {
    const store = await openTestStore(join(work, name));
    const result = await importRootfs(store, createReadStream(rootfsTar), options);
    return { store, result };
  }

  test('import makes a one-layer image as docker import does', async () => {
    const { store, result } = await importedStore('import-plain');
    assert.equal(result.tag, 'docker.io/library/busybox:imported');
    assert.equal(store.tags.get('docker.io/library/busybox:imported'), result.id);
    assert.equal(result.diffId, sha256(rootfs), 'diff ID is the sha256 of the uncompressed tar');
    const manifest = JSON.parse((await store.content.readBytes(result.manifest.digest)).toString()) as ImageManifest;
    assert.equal(manifest.layers.length, 1);
    assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    const layer = await store.content.readBytes(manifest.layers[0]!.digest);
    assert.deepEqual([layer[0], layer[1]], [0x1f, 0x8b], 'the stored layer is gzip');
    const config = JSON.parse((await store.content.readBytes(result.id)).toString()) as ImageConfig;
    assert.equal(sha256(await store.content.readBytes(result.id)), result.id, 'image ID is the config digest');
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [result.diffId] });
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.comment, 'Imported from -');
    assert.equal(config.history?.length, 1);
    assert.equal(config.history?.[0]?.comment, 'Imported from -');
  });

  test('import detects gzip and zstd rootfs tarballs and gets the same diff ID', async () => {
    for (const [label, bytes] of [['gzip', gzipSync(rootfs)], ['zstd', zstdCompressSync(rootfs)]] as const) {
      const store = await openTestStore(join(work, `import-${label}`));
      const result = await importRootfs(store, Readable.from([bytes]));
      assert.equal(result.diffId, sha256(rootfs), label);
      assert.equal(result.tag, undefined);
      assert.equal(store.tags.size, 0);
    }
  });

  test('import --platform sets the config platform', async () => {
    const { result, store } = await importedStore('import-platform', { platform: 'linux/arm64' });
    const config = JSON.parse((await store.content.readBytes(result.id)).toString()) as ImageConfig;
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.os, 'linux');
    await assert.rejects(importRootfs(store, createReadStream(rootfsTar), { platform: 'plan9/vax' }), { code: 'BERTH_PLATFORM_INVALID' });
  });

  test('import applies --change and --message', async () => {
    const { result, store } = await importedStore('import-changes', {
      ref: 'example.com/team/app:v1',
      message: 'made offline',
      changes: ['CMD ["/bin/sh", "-c", "echo hi"]', 'ENV A=1 B="two words"', 'WORKDIR /srv', 'WORKDIR data', 'USER nobody', 'EXPOSE 80 53/udp', 'LABEL org.x=y', 'ENTRYPOINT /bin/true', 'VOLUME /data', 'STOPSIGNAL SIGINT'],
    });
    const config = JSON.parse((await store.content.readBytes(result.id)).toString()) as ImageConfig;
    assert.deepEqual(config.config, {
      Cmd: ['/bin/sh', '-c', 'echo hi'],
      Env: ['A=1', 'B=two words'],
      WorkingDir: '/srv/data',
      User: 'nobody',
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      Labels: { 'org.x': 'y' },
      Entrypoint: ['/bin/sh', '-c', '/bin/true'],
      Volumes: { '/data': {} },
      StopSignal: 'SIGINT',
    });
    assert.equal(config.comment, 'made offline');
    assert.equal(result.tag, 'example.com/team/app:v1');
  });

  test('save (docker format) and load into a fresh store give the same image ID and tag', async () => {
    const { store, result } = await importedStore('save-docker-src');
    const file = join(work, 'busybox-docker.tar');
    await saveToFile(await saveImages(store, ['busybox:imported'], { format: 'docker' }), file);
    const names = tarList(file);
    for (const expected of ['manifest.json', 'index.json', 'oci-layout', 'repositories', `blobs/sha256/${result.id.slice(7)}`, `blobs/sha256/${result.diffId.slice(7)}`]) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
    }
    const manifestJson = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }));
    assert.deepEqual(manifestJson, [{ Config: `blobs/sha256/${result.id.slice(7)}`, RepoTags: ['busybox:imported'], Layers: [`blobs/sha256/${result.diffId.slice(7)}`] }]);
    const repositories = JSON.parse(execFileSync('tar', ['-xOf', file, 'repositories'], { encoding: 'utf8' }));
    assert.deepEqual(repositories, { busybox: { imported: result.diffId.slice(7) } });
    // Layers in the docker format are uncompressed: the blob is the rootfs tar itself.
    assert.ok(execFileSync('tar', ['-xOf', file, `blobs/sha256/${result.diffId.slice(7)}`], { maxBuffer: 64 << 20 }).equals(rootfs));

    const fresh = await openTestStore(join(work, 'save-docker-dst'));
    const events: string[] = [];
    const loaded = await loadImages(fresh, createReadStream(file), { onProgress: (e) => events.push(e.status) });
    assert.deepEqual(loaded.loaded, ['busybox:imported']);
    assert.deepEqual(loaded.images, [{ id: result.id, tags: ['docker.io/library/busybox:imported'] }]);
    assert.equal(fresh.tags.get('docker.io/library/busybox:imported'), result.id);
    assert.deepEqual(events, ['Loading layer']);
    // Saving the same image twice gives the same bytes.
    const again = join(work, 'busybox-docker-2.tar');
    await saveToFile(await saveImages(store, ['busybox:imported']), again);
    assert.ok((await readFile(again)).equals(await readFile(file)));
    // The loaded copy keeps its layer uncompressed; saving it again gives the same archive too.
    const fromLoaded = join(work, 'busybox-docker-3.tar');
    await saveToFile(await saveImages(fresh, ['busybox:imported']), fromLoaded);
    assert.ok((await readFile(fromLoaded)).equals(await readFile(file)));
  });

  test('save (oci format) keeps the stored blobs and manifest digest; load restores it', async () => {
    const { store, result } = await importedStore('save-oci-src');
    const file = join(work, 'busybox-oci.tar');
    await saveToFile(await saveImages(store, [result.id.slice(7, 19), 'busybox:imported'], { format: 'oci' }), file);
    const index = JSON.parse(execFileSync('tar', ['-xOf', file, 'index.json'], { encoding: 'utf8' }));
    assert.equal(index.manifests.length, 1, 'one image, one tag');
    assert.equal(index.manifests[0].digest, result.manifest.digest);
    assert.deepEqual(index.manifests[0].annotations, {
      'io.containerd.image.name': 'docker.io/library/busybox:imported',
      'org.opencontainers.image.ref.name': 'imported',
    });
    const fresh = await openTestStore(join(work, 'save-oci-dst'));
    const loaded = await loadImages(fresh, createReadStream(file));
    assert.deepEqual(loaded.images, [{ id: result.id, tags: ['docker.io/library/busybox:imported'] }]);
    assert.equal(fresh.images.get(result.id)?.digest, result.manifest.digest, 'manifest digest survives');
    // skopeo reads berth's OCI archive.
    const inspected = await skopeoInspect(`oci-archive:${file}`, { tmpdir: work });
    assert.equal(inspected.Digest, result.manifest.digest);
    assert.equal(inspected.Layers.length, 1);
    const rawConfig = await skopeoInspect(`oci-archive:${file}`, { tmpdir: work, config: true });
    assert.deepEqual(rawConfig.rootfs.diff_ids, [result.diffId]);
  });

  test('the docker-format save is also an OCI layout: skopeo reads it both ways', async () => {
    const { store, result } = await importedStore('dual-read');
    const file = join(work, 'dual.tar');
    await saveToFile(await saveImages(store, ['busybox:imported']), file);
    const asDocker = await skopeoInspect(`docker-archive:${file}`, { tmpdir: work, config: true });
    assert.deepEqual(asDocker.rootfs.diff_ids, [result.diffId]);
    const asOci = await skopeoInspect(`oci-archive:${file}:imported`, { tmpdir: work, config: true });
    assert.deepEqual(asOci.rootfs.diff_ids, [result.diffId]);
  });

  test('several images in one archive share their layers, in both formats', async () => {
    const store = await openTestStore(join(work, 'multi-src'));
    const a = await importRootfs(store, createReadStream(rootfsTar), { ref: 'multi/a:1', changes: ['CMD ["a"]'] });
    const b = await importRootfs(store, createReadStream(rootfsTar), { ref: 'multi/b:1', changes: ['CMD ["b"]'] });
    assert.notEqual(a.id, b.id);
    assert.equal(a.diffId, b.diffId);
    for (const format of ['docker', 'oci'] as const) {
      const file = join(work, `multi-${format}.tar`);
      await saveToFile(await saveImages(store, ['multi/a:1', 'multi/b:1', a.id], { format }), file);
      const names = tarList(file);
      assert.equal(names.length, new Set(names).size, `${format}: no duplicate entries`);
      const fresh = await openTestStore(join(work, `multi-dst-${format}`));
      const loaded = await loadImages(fresh, createReadStream(file));
      assert.deepEqual(loaded.loaded.sort(), ['multi/a:1', 'multi/b:1'], format);
      assert.deepEqual(new Set(loaded.images.map((i) => i.id)), new Set([a.id, b.id]), format);
    }
  });

  test('saving an unknown image fails before producing a stream', async () => {
    const { store } = await importedStore('save-unknown');
    await assert.rejects(saveImages(store, ['nosuch:tag']), { code: 'BERTH_IMAGE_NOT_FOUND' });
    await assert.rejects(saveImages(store, []), { code: 'BERTH_SAVE_NO_IMAGES' });
  });

  test('loads the docker-archive skopeo writes from an OCI layout', async () => {
    const { src } = await makeBusyboxOciLayout(work, 'v1');
    const file = join(work, 'skopeo-docker-archive.tar');
    await skopeoCopy(src, `docker-archive:${file}:example.com/skopeo/busybox:v1`, { tmpdir: work });
    const store = await openTestStore(join(work, 'load-skopeo'));
    const loaded = await loadImages(store, createReadStream(file));
    assert.deepEqual(loaded.loaded, ['example.com/skopeo/busybox:v1']);
    const expectedConfig = await skopeoInspect(`oci:${join(work, 'busybox-oci')}:v1`, { raw: true });
    assert.equal(loaded.images[0]!.id, expectedConfig.config.digest, 'same image ID as the source');
  });

  test('podman loads berth\'s docker-format save and runs it', async () => {
    const { store, result } = await importedStore('to-podman', { ref: 'localhost/berth/busybox:podman', changes: ['CMD ["echo", "hello from berth"]'] });
    const file = join(work, 'to-podman.tar');
    await saveToFile(await saveImages(store, ['localhost/berth/busybox:podman']), file);
    podman = await startPodman();
    const out = await podman.podmanOk(['load', '-i', file]);
    assert.match(out.stdout, /Loaded image: localhost\/berth\/busybox:podman/);
    const id = await podman.podmanOk(['image', 'inspect', '--format', '{{.Id}}', 'localhost/berth/busybox:podman']);
    assert.equal(id.stdout.trim(), result.id.slice(7));
    const run = await podman.podmanOk(['run', '--rm', '--network', 'none', 'localhost/berth/busybox:podman']);
    assert.equal(run.stdout, 'hello from berth\n');

    // The reverse: podman's own saves, in both formats, load into berth with the same ID and name.
    for (const format of ['oci-archive', 'docker-archive']) {
      const back = join(work, `from-podman-${format}.tar`);
      await podman.podmanOk(['save', '--format', format, '-o', back, 'localhost/berth/busybox:podman']);
      const fresh = await openTestStore(join(work, `from-podman-${format}`));
      const loaded = await loadImages(fresh, createReadStream(back));
      assert.deepEqual(loaded.images, [{ id: result.id, tags: ['localhost/berth/busybox:podman'] }], format);
    }
  });

  test('dockerd loads berth\'s docker-format save and runs it; berth loads docker\'s own save', async () => {
    const { store, result } = await importedStore('to-docker', { ref: 'berth/busybox:docker', changes: ['CMD ["echo", "hello from berth"]'] });
    const file = join(work, 'to-docker.tar');
    await saveToFile(await saveImages(store, ['berth/busybox:docker']), file);
    dockerd = await startDockerd();
    const out = await dockerd.dockerOk(['load', '-i', file]);
    assert.match(out.stdout, /Loaded image: berth\/busybox:docker/);
    const images = await dockerd.dockerOk(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.equal(images.stdout.trim(), `berth/busybox:docker ${result.id}`);
    const run = await dockerd.dockerOk(['run', '--rm', '--network', 'none', 'berth/busybox:docker']);
    assert.equal(run.stdout, 'hello from berth\n');

    // The reverse: docker 20.10 writes the legacy layout (<id>/layer.tar, <id>.json).
    await dockerd.dockerOk(['tag', 'berth/busybox:docker', 'berth/busybox:roundtrip']);
    const back = join(work, 'from-docker.tar');
    await dockerd.dockerOk(['save', '-o', back, 'berth/busybox:roundtrip']);
    assert.ok(tarList(back).some((n) => n.endsWith('/layer.tar')), 'docker 20.10 writes legacy layer dirs');
    const fresh = await openTestStore(join(work, 'from-docker'));
    const loaded = await loadImages(fresh, createReadStream(back));
    assert.deepEqual(loaded.images, [{ id: result.id, tags: ['docker.io/berth/busybox:roundtrip'] }]);
  });

  test('load leaves no scratch files in the store', async () => {
    const store = await openTestStore(join(work, 'scratch-check'));
    const { store: src } = await importedStore('scratch-src');
    const file = join(work, 'scratch.tar');
    await saveToFile(await saveImages(src, ['busybox:imported']), file);
    await loadImages(store, createReadStream(file));
    assert.deepEqual((await readdir(join(work, 'scratch-check', 'ingest'))).filter((n) => n.startsWith('load-')), []);
  });
});
