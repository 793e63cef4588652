import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseBind, parseTmpfs, parseMountPoint, parseVolumesFrom, resolveMounts, volumesFromSources } from '../../../src/container/mounts.ts';
import type { ContainerRecord } from '../../../src/container/store.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

describe('mount specifications', () => {
  test('-v host:container:ro', () => {
    const p = parseBind('/srv/data:/data:ro');
    assert.equal(p.type, 'bind');
    assert.equal(p.source, '/srv/data');
    assert.equal(p.destination, '/data');
    assert.equal(p.readOnly, true);
  });
  test('-v name:/dst is a named volume; -v /dst an anonymous one', () => {
    assert.equal(parseBind('cache:/var/cache').type, 'volume');
    const anon = parseBind('/scratch');
    assert.equal(anon.type, 'volume');
    assert.equal(anon.source, '');
  });
  test('bad specs are refused with Docker\'s words', () => {
    assert.throws(() => parseBind('a:b:c:d'), /invalid volume specification/);
    assert.throws(() => parseBind('/x:relative'), /invalid mode: relative/);
    assert.throws(() => parseBind('/x:/'), /destination can't be '\/'/);
    assert.throws(() => parseBind('bad$name:/d'), /invalid characters for a local volume name/);
    assert.throws(() => parseBind('/x:/y:bogus'), /invalid mode: bogus/);
  });
  test('--tmpfs options', () => {
    const p = parseTmpfs('/run', 'rw,size=64m,exec');
    assert.deepEqual(p.options, ['nosuid', 'nodev', 'size=64m']);
    assert.throws(() => parseTmpfs('/run', 'size=1;rm'), /invalid option/);
  });
  test('--mount type=bind needs an absolute existing source', () => {
    assert.throws(() => parseMountPoint({ Type: 'bind', Source: 'rel', Target: '/x' }), /must be absolute/);
    assert.throws(() => parseMountPoint({ Type: 'npipe', Target: '/x' } as never), /not supported/);
  });
});

describe('resolving mounts', () => {
  test('volumes are created under the data root; -v creates a missing host dir; duplicates refused', async () => {
    const root = await makeTempDir();
    dirs.push(root);
    const host = join(root, 'hostdir');
    const r = await resolveMounts(root, { Binds: [`${host}:/h`, 'named:/n'], Tmpfs: { '/t': 'size=1m' } }, { '/anon': {} });
    assert.ok(existsSync(host));
    assert.ok(existsSync(join(root, 'volumes/named/_data')));
    assert.equal(r.anonymousVolumes.length, 1);
    assert.deepEqual(r.oci.map((m) => m.destination), ['/h', '/n', '/t', '/anon']);
    // .Mounts as dockerd lists them: --tmpfs is mounted but not listed (a --mount tmpfs is).
    assert.deepEqual(r.records.map((m) => m.Destination), ['/h', '/n', '/anon']);
    const t = await resolveMounts(root, { Mounts: [{ Type: 'tmpfs', Target: '/m' }], Tmpfs: { '/t': '' } }, undefined);
    assert.deepEqual(t.oci.map((m) => m.destination), ['/m', '/t']);
    assert.deepEqual(t.records.map((m) => [m.Type, m.Destination]), [['tmpfs', '/m']]);
    await assert.rejects(resolveMounts(root, { Binds: ['/a:/same', '/b:/same'] }, undefined), /Duplicate mount point: \/same/);
    await assert.rejects(
      resolveMounts(root, { Mounts: [{ Type: 'bind', Source: join(root, 'missing'), Target: '/m' }] }, undefined),
      /bind source path does not exist/,
    );
  });
});

describe('anonymous volumes and --volumes-from', () => {
  test('a restart finds the container\'s anonymous volume again (its data stays)', async () => {
    const root = await makeTempDir();
    dirs.push(root);
    const first = await resolveMounts(root, { Binds: ['/data'] }, undefined, { containerId: 'c1' });
    assert.equal(first.anonymousVolumes.length, 1);
    const again = await resolveMounts(root, { Binds: ['/data'] }, undefined, { containerId: 'c1', previous: { records: first.records, anonymousVolumes: first.anonymousVolumes } });
    assert.deepEqual(again.anonymousVolumes, first.anonymousVolumes);
    assert.equal(again.records[0]!.Name, first.records[0]!.Name);
  });

  test('--volumes-from: modes as dockerd parses them', () => {
    assert.deepEqual(parseVolumesFrom('data'), { ref: 'data', readOnly: false });
    assert.deepEqual(parseVolumesFrom('data:ro'), { ref: 'data', readOnly: true });
    assert.deepEqual(parseVolumesFrom('data:rw,z'), { ref: 'data', readOnly: false });
    assert.throws(() => parseVolumesFrom('data:bogus'), /invalid mode: bogus/);
    assert.throws(() => parseVolumesFrom('data:ro,rw'), /invalid mode: ro,rw/);
    assert.throws(() => parseVolumesFrom(''), /cannot be an empty string/);
  });

  test('--volumes-from: the source\'s volumes and binds (never-started sources get theirs now), ro, the user\'s own mount wins', async () => {
    const root = await makeTempDir();
    dirs.push(root);
    const host = join(root, 'host');
    const src = {
      Id: 's'.repeat(64),
      Name: '/store',
      Config: { Volumes: { '/img-vol': {} } },
      HostConfig: { Binds: ['/data', `${host}:/h:ro`, 'named:/n'], Tmpfs: { '/t': '' } },
    } as unknown as ContainerRecord;
    let saved = 0;
    const opts = { find: (ref: string) => (ref === 'store' ? src : undefined), save: async () => void saved++ };
    const sources = await volumesFromSources(root, ['store'], opts);
    assert.equal(saved, 1);
    assert.equal(src.AnonymousVolumes!.length, 2);
    assert.deepEqual(sources[0]!.records.map((m) => m.Destination), ['/data', '/h', '/n', '/img-vol']);
    // Once made, they are the source's: asked again, the same ones, nothing saved.
    assert.deepEqual(await volumesFromSources(root, ['store:ro'], opts).then((s) => s[0]!.records), sources[0]!.records);
    assert.equal(saved, 1);
    const r = await resolveMounts(root, { Binds: [`${root}:/n`] }, undefined, { containerId: 'c2', volumesFrom: await volumesFromSources(root, ['store:ro'], opts) });
    const byDest = Object.fromEntries(r.records.map((m) => [m.Destination, m]));
    assert.equal(byDest['/n']!.Source, root);
    assert.equal(byDest['/data']!.Name, src.MountPoints![0]!.Name);
    assert.equal(byDest['/data']!.RW, false);
    assert.equal(byDest['/h']!.Source, host);
    assert.deepEqual(r.anonymousVolumes, []);
    const rw = await resolveMounts(root, {}, undefined, { containerId: 'c3', volumesFrom: await volumesFromSources(root, ['store'], opts) });
    assert.deepEqual(rw.records.map((m) => [m.Destination, m.RW]), [['/data', true], ['/h', false], ['/n', true], ['/img-vol', true]]);
    await assert.rejects(volumesFromSources(root, ['gone'], opts), /No such container: gone/);
  });
});
