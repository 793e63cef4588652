/**
 * ImageService end to end on a real data root: pull from Debian's
 * docker-registry on loopback (image put there by skopeo from an umoci-made
 * busybox layout), unpack into real snapshots, list/inspect/history, tag,
 * push back (checked with skopeo), remove with Docker's rules, prune, and
 * images registered through addImage (the archive entry point).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stat, readdir } from 'node:fs/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerRegistry, type DockerRegistry } from '../../helpers/peers/docker-registry.ts';
import { makeBusyboxOciLayout } from '../../helpers/peers/oci-image.ts';
import { skopeoCopy, skopeoInspect } from '../../helpers/peers/skopeo.ts';
import { ImageService, type RemoveItem } from '../../../src/image/service.ts';
import type { ProgressEvent } from '../../../src/common/progress.ts';
import type { Digest } from '../../../src/content/types.ts';
import { writeTestImage } from '../../unit/image/fixtures.ts';

const NO_CREDS = '/nonexistent/berth-test/config.json';

describe('ImageService on a real data root', () => {
  let dir: string;
  let registry: DockerRegistry;
  let svc: ImageService;
  let repo: string;
  let bbId: Digest;
  let users: Map<Digest, Array<{ id: string; running: boolean }>>;

  before(async () => {
    dir = await makeTempDir('berth-image-svc-');
    registry = await startDockerRegistry();
    const { src } = await makeBusyboxOciLayout(dir);
    repo = `${registry.host}/library/busybox`;
    await skopeoCopy(src, `docker://${repo}:latest`, { tmpdir: dir });
    users = new Map();
    svc = await ImageService.open(join(dir, 'root'), { dockerConfigPath: NO_CREDS, containersUsing: (id) => users.get(id) ?? [] });
  });
  after(async () => {
    await registry?.stop();
    if (dir) await removeTempDir(dir);
  });

  test('pull: downloads, unpacks into a snapshot, registers tag and repo digest; a second pull is up to date', async () => {
    const events: ProgressEvent[] = [];
    const r = await svc.pull(repo, { onProgress: (e) => events.push(e) });
    bbId = r.id;
    assert.equal(r.reference, `${repo}:latest`);
    assert.equal(r.status, `Downloaded newer image for ${repo}:latest`);
    assert.ok(events.some((e) => e.status === 'Pull complete'), 'layers report Pull complete');
    assert.ok(events.some((e) => e.status === `Status: Downloaded newer image for ${repo}:latest`));
    const again = await svc.pull(`${repo}:latest`);
    assert.equal(again.status, `Image is up to date for ${repo}:latest`);
    assert.equal(again.id, r.id);

    const details = await svc.inspect(r.id.slice(7, 19));
    assert.deepEqual(details.repoTags, [`${repo}:latest`]);
    assert.deepEqual(details.repoDigests, [`${repo}@${r.digest}`]);
    assert.equal(details.architecture, 'amd64');
    assert.equal(details.os, 'linux');
    assert.deepEqual(details.config.Cmd, ['/bin/sh']);
    assert.ok(details.size > 1_000_000, `unpacked size ${details.size} counts the busybox binary`);
    assert.ok(details.chainId);
    const dirs = await svc.snapshotter!.dirs(details.chainId!);
    assert.ok((await stat(join(dirs.dir, 'bin/busybox'))).size > 500_000, 'the layer is unpacked on disk');
  });

  test('imageForContainer gives config and chain ID, and unpacks again if the snapshot was removed', async () => {
    const forContainer = await svc.imageForContainer(`${repo}:latest`);
    const details = await svc.inspect(bbId);
    assert.equal(forContainer.id, bbId);
    assert.equal(forContainer.chainId, details.chainId);
    assert.equal(forContainer.name, `${repo}:latest`);
    assert.deepEqual(forContainer.config.config?.Cmd, ['/bin/sh']);
    await svc.snapshotter!.remove(details.chainId!);
    assert.equal(await svc.snapshotter!.find(details.chainId!), undefined);
    await svc.imageForContainer(bbId);
    assert.equal((await svc.snapshotter!.find(details.chainId!))?.kind, 'committed');
    await assert.rejects(svc.imageForContainer('nosuch:image'), { code: 'BERTH_IMAGE_NOT_FOUND' });
  });

  test('list, history and filters', async () => {
    const list = await svc.list();
    const bb = list.find((i) => i.id === bbId)!;
    assert.deepEqual(bb.repoTags, [`${repo}:latest`]);
    assert.equal(bb.containers, 0);
    assert.ok(bb.created > 0);
    assert.equal((await svc.list({ filters: { reference: [`${registry.host}/library/*`] } })).length, 1);
    assert.equal((await svc.list({ filters: { reference: ['nomatch*'] } })).length, 0);
    assert.equal((await svc.list({ filters: { dangling: ['true'] } })).length, 0);
    await assert.rejects(svc.list({ filters: { bogus: ['x'] } }), { code: 'BERTH_IMAGE_INVALID_FILTER', status: 400 });
    const history = await svc.history(`${repo}:latest`);
    assert.equal(history[0]!.id, bbId);
    assert.deepEqual(history[0]!.tags, [`${repo}:latest`]);
    assert.ok(history.some((h) => h.size > 1_000_000), 'the layer entry carries its size');
  });

  test('tag and untag by name; removing one of two tags keeps the image', async () => {
    await svc.tag(bbId.slice(7, 19), 'mybox:1');
    assert.equal((await svc.inspect('mybox:1')).id, bbId);
    assert.deepEqual(await svc.remove('mybox:1'), [{ Untagged: 'mybox:1' }]);
    assert.equal((await svc.inspect(bbId)).id, bbId);
    await assert.rejects(svc.tag('nosuch', 'x'), { code: 'BERTH_IMAGE_NOT_FOUND', status: 404 });
    await assert.rejects(svc.tag(bbId, 'Bad:tag'), { code: 'BERTH_REFERENCE_UPPERCASE', status: 400 });
  });

  test('push to another repository: the registry has it (skopeo sees it) and the repo digest is recorded', async () => {
    const target = `${registry.host}/copies/busybox:v2`;
    await svc.tag(bbId, target);
    const events: ProgressEvent[] = [];
    const pushed = await svc.push(target, { onProgress: (e) => events.push(e) });
    assert.equal(pushed.tag, 'v2');
    assert.ok(events.some((e) => e.status === `v2: digest: ${pushed.digest} size: ${pushed.size}`));
    const inspected = (await skopeoInspect(`docker://${target}`, { tmpdir: dir })) as { Digest: string };
    assert.equal(inspected.Digest, pushed.digest);
    assert.ok((await svc.inspect(bbId)).repoDigests.includes(`${registry.host}/copies/busybox@${pushed.digest}`));
  });

  test('pull errors: bad reference, unknown tag — nothing registered', async () => {
    const before = (await svc.list()).length;
    await assert.rejects(svc.pull('Not/Valid::ref'), (err: { code: string }) => err.code.startsWith('BERTH_REFERENCE_'));
    await assert.rejects(svc.pull(`${registry.host}/library/busybox:nosuchtag`), (err: { status: number }) => err.status === 404);
    await assert.rejects(svc.pull(repo, { platform: 'linux/s390x' }), /does not match the specified platform|no matching manifest/);
    assert.equal((await svc.list()).length, before);
  });

  test('addImage registers a stored image, unpacks it and refuses incomplete ones', async () => {
    const img = await writeTestImage(svc.content, { layers: [{ 'etc/hello': 'hi\n' }, { 'etc/more': 'more\n' }], labels: { team: 'a' } });
    const { id } = await svc.addImage({ manifest: img.manifest, tags: ['local/test:1'] });
    assert.equal(id, img.id);
    const d = await svc.inspect('local/test:1');
    assert.equal(d.labels.team, 'a');
    const dirs = await svc.snapshotter!.dirs(d.chainId!);
    assert.ok(dirs.dir);
    assert.equal((await svc.list({ filters: { label: ['team=a'] } })).length, 1);

    const partial = await writeTestImage(svc.content, { layers: [{ x: 'partial' }], comment: 'partial' });
    await svc.content.delete(partial.layers[0]!.digest);
    await assert.rejects(svc.addImage({ manifest: partial.manifest, tags: ['partial'] }), { code: 'BERTH_IMAGE_INCOMPLETE' });
    await assert.rejects(svc.inspect('partial'), { code: 'BERTH_IMAGE_NOT_FOUND' });
  });

  test('containers hold images: rmi of the last name needs force; by ID a stopped container needs force, a running one refuses', async () => {
    const img = await writeTestImage(svc.content, { layers: [{ used: 'by a container' }], comment: 'used' });
    const { id } = await svc.addImage({ manifest: img.manifest, tags: ['inuse:1'] });
    users.set(id, [{ id: 'c0ffee'.padEnd(64, '0'), running: false }]);
    assert.equal((await svc.inspect(id)).containers, 1);
    await assert.rejects(svc.remove('inuse:1'), { code: 'BERTH_IMAGE_CONFLICT', message: /unable to remove repository reference "inuse:1" \(must force\) - container c0ffee000000/ });
    await assert.rejects(svc.remove(id), { code: 'BERTH_IMAGE_CONFLICT', message: /must be forced\) - image is being used by stopped container/ });
    users.set(id, [{ id: 'c0ffee'.padEnd(64, '0'), running: true }]);
    await assert.rejects(svc.remove(id, { force: true }), { message: /cannot be forced\) - image is being used by running container/ });
    users.set(id, [{ id: 'c0ffee'.padEnd(64, '0'), running: false }]);
    const removed = await svc.remove(id, { force: true });
    assert.deepEqual(removed.slice(0, 2), [{ Untagged: 'inuse:1' }, { Deleted: id }]);
    users.delete(id);
  });

  test('rmi by ID with names in several repositories needs force, then untags all and deletes blobs and snapshots', async () => {
    await svc.tag(bbId, 'other/name:x');
    await assert.rejects(svc.remove(bbId.slice(7, 19)), { code: 'BERTH_IMAGE_CONFLICT', message: /referenced in multiple repositories/ });
    const chainId = (await svc.inspect(bbId)).chainId!;
    const items = await svc.remove(bbId.slice(7, 19), { force: true });
    const untagged = items.filter((i): i is { Untagged: string } => 'Untagged' in i).map((i) => i.Untagged);
    assert.ok(untagged.includes(`${repo}:latest`));
    assert.ok(untagged.includes('other/name:x'));
    assert.ok(items.some((i) => 'Deleted' in i && i.Deleted === bbId));
    assert.ok(items.some((i) => 'Deleted' in i && i.Deleted === chainId), 'the layer snapshot is reported deleted');
    assert.equal(await svc.content.has(bbId), false);
    assert.equal(await svc.snapshotter!.find(chainId), undefined);
    await assert.rejects(svc.inspect(bbId), { code: 'BERTH_IMAGE_NOT_FOUND' });
  });

  test('prune removes dangling images only, then all unused with all=true', async () => {
    const keep = await writeTestImage(svc.content, { layers: [{ keep: 'k' }], comment: 'keep' });
    const dangling = await writeTestImage(svc.content, { layers: [{ dangle: 'd' }], comment: 'dangling' });
    await svc.addImage({ manifest: keep.manifest, tags: ['keep:1'] });
    await svc.addImage({ manifest: dangling.manifest });
    const pruned = await svc.prune();
    assert.deepEqual(pruned.deleted[0], { Deleted: dangling.id } satisfies RemoveItem);
    assert.ok(!pruned.deleted.some((i) => 'Untagged' in i || i.Deleted === keep.id), 'tagged images stay');
    assert.equal(await svc.content.has(dangling.layers[0]!.digest), false);
    assert.ok(pruned.spaceReclaimed > 0);
    assert.equal((await svc.inspect('keep:1')).id, keep.id);
    await assert.rejects(svc.prune({ filters: { nope: ['1'] } }), { code: 'BERTH_IMAGE_INVALID_FILTER' });
    const all = await svc.prune({ all: true });
    assert.ok(all.deleted.some((i) => 'Untagged' in i && i.Untagged === 'keep:1'));
    assert.equal((await svc.list()).length, 0);
    // Nothing left: the content store holds no blobs, and no layer snapshots remain.
    const blobs = await readdir(join(dir, 'root/content/blobs/sha256'));
    assert.deepEqual(blobs, []);
    assert.deepEqual((await svc.snapshotter!.list()).filter((s) => s.kind === 'committed'), []);
  });

  test('pulls racing with garbage collection: the pulled image is complete afterwards', async () => {
    // Nothing references the blobs while they download; the GC lock keeps them.
    const results = await Promise.all([svc.pull(repo), svc.gc(), svc.pull(`${registry.host}/copies/busybox:v2`), svc.gc()]);
    const pulled = results[0] as { id: Digest };
    const details = await svc.inspect(`${repo}:latest`);
    assert.equal(details.id, pulled.id);
    const manifest = JSON.parse((await svc.content.readBytes(details.manifests[0]!.digest)).toString()) as { config: { digest: Digest }; layers: Array<{ digest: Digest }> };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) assert.equal(await svc.content.has(d), true, d);
    assert.equal((await svc.snapshotter!.find(details.chainId!))?.kind, 'committed');
    assert.deepEqual(await svc.content.verify(), []);
  });

  test('rmi while a pull runs does not wait for it; the freed blobs are swept once the pull is done', async () => {
    for (const tag of [`${repo}:latest`, `${registry.host}/copies/busybox:v2`]) await svc.remove(tag).catch(() => {});
    assert.equal((await svc.list()).length, 0);
    const other = await writeTestImage(svc.content, { layers: [{ other: 'image' }], comment: 'other' });
    await svc.addImage({ manifest: other.manifest, tags: ['other:1'] });
    const [pulled, removed] = await Promise.all([svc.pull(repo), svc.remove('other:1')]);
    assert.deepEqual(removed.slice(0, 2), [{ Untagged: 'other:1' }, { Deleted: other.id }]);
    for (const d of [other.id, other.manifest.digest, ...other.layers.map((l) => l.digest)]) assert.equal(await svc.content.has(d), false, d);
    assert.equal((await svc.inspect(`${repo}:latest`)).id, pulled.id);
  });

  test('gc keeps snapshots a container pins (as parent of its rootfs, or declared in use) after their image is gone', async () => {
    const img = await writeTestImage(svc.content, { layers: [{ base: 'b' }, { top: 't' }], comment: 'pinned' });
    await svc.addImage({ manifest: img.manifest, tags: ['pinned:1'] });
    const chainId = (await svc.inspect('pinned:1')).chainId!;
    await svc.snapshotter!.prepare('container-rootfs-1', chainId);
    await svc.remove('pinned:1');
    assert.equal((await svc.snapshotter!.find(chainId))?.kind, 'committed', 'a container rootfs on top keeps the chain');
    await svc.snapshotter!.remove('container-rootfs-1');
    svc.setChainIdsInUse((c) => c === chainId);
    await svc.gc();
    assert.equal((await svc.snapshotter!.find(chainId))?.kind, 'committed', 'a chain declared in use stays, with its parent');
    svc.setChainIdsInUse(() => false);
    const r = await svc.gc();
    assert.ok(r.deletedSnapshots.includes(chainId));
    assert.equal(await svc.snapshotter!.find(chainId), undefined);
  });
});
