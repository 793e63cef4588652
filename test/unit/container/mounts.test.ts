import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseBind, parseTmpfs, parseMountPoint, resolveMounts } from '../../../src/container/mounts.ts';
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
