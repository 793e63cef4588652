/**
 * The volume store and service on a real data root: atomic create and
 * remove that never reach outside <dataRoot>/volumes, Docker's names and
 * options, references from real containers (409 while in use, prune of
 * unused anonymous volumes only), the copy-up of image content into a new
 * volume resolved inside the container's root (symlinks cannot lead out),
 * and volume events.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { chown, chmod, mkdir, readdir, readFile, stat, symlink, writeFile, link } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { ImageService } from '../../../src/image/service.ts';
import { importRootfs } from '../../../src/image/archive/index.ts';
import { ContainerService } from '../../../src/container/service.ts';
import { EventHub, type EngineEvent } from '../../../src/api/events.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import {
  ANONYMOUS_LABEL,
  LocalVolumeStore,
  VolumeService,
  copyUpImageContent,
  diskUsage,
  parseLocalOptions,
} from '../../../src/container/volumes.ts';

let root: string;

before(async () => {
  root = await makeTempDir('berth-volumes-');
});
after(async () => {
  await removeTempDir(root);
});

const status = (code: string, httpStatus: number) => (err: unknown) => isBerthError(err, code) && err.status === httpStatus;

describe('LocalVolumeStore', () => {
  test('create, get, list, remove: volume.json and _data appear whole, names are Docker\'s', async () => {
    const dataRoot = join(root, 'store1');
    const store = new LocalVolumeStore(dataRoot);
    const { volume, created } = await store.create({ name: 'data.1', labels: { a: 'b' } });
    assert.equal(created, true);
    assert.deepEqual({ ...volume, CreatedAt: '' }, {
      CreatedAt: '',
      Driver: 'local',
      Labels: { a: 'b' },
      Mountpoint: join(dataRoot, 'volumes/data.1/_data'),
      Name: 'data.1',
      Options: null,
      Scope: 'local',
    });
    assert.match(volume.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok((await stat(volume.Mountpoint)).isDirectory());
    // Creating it again answers the same volume (labels of the second call ignored, as Docker does).
    const again = await store.create({ name: 'data.1', labels: { c: 'd' } });
    assert.equal(again.created, false);
    assert.deepEqual(again.volume, volume);
    const anon = await store.create({});
    assert.match(anon.volume.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.volume.Labels, { [ANONYMOUS_LABEL]: '' });
    assert.deepEqual((await store.list()).map((v) => v.Name).sort(), [anon.volume.Name, 'data.1'].sort());
    for (const bad of ['a', '../x', 'x/y', '.hidden', '-dash', 'sp ace']) {
      await assert.rejects(store.create({ name: bad }), status('BERTH_VOLUME_BAD_NAME', 400), bad);
      assert.equal(await store.get(bad), undefined);
    }
    await assert.rejects(store.create({ name: 'xx', driver: 'nfs' }), status('BERTH_VOLUME_BAD_DRIVER', 400));
    assert.equal(await store.remove('data.1'), true);
    assert.equal(await store.remove('data.1'), false);
    assert.equal(await store.get('data.1'), undefined);
    // Nothing half-made or half-removed is left in the directory.
    assert.deepEqual(await readdir(join(dataRoot, 'volumes')), [anon.volume.Name]);
  });

  test('concurrent creates of one name: one volume, one creator', async () => {
    const store = new LocalVolumeStore(join(root, 'store2'));
    const results = await Promise.all(Array.from({ length: 8 }, () => store.create({ name: 'same' })));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.deepEqual(await readdir(join(root, 'store2/volumes')), ['same']);
  });

  test('remove never follows a symlink out of the volume and refuses while something is mounted in it', async () => {
    const dataRoot = join(root, 'store3');
    const store = new LocalVolumeStore(dataRoot);
    const outside = join(root, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious'), 'keep\n');
    const { volume } = await store.create({ name: 'linky' });
    await symlink(outside, join(volume.Mountpoint, 'out'));
    await symlink('/', join(volume.Mountpoint, 'root'));
    await mkdir(join(volume.Mountpoint, 'mnt'));
    execFileSync('mount', ['--bind', outside, join(volume.Mountpoint, 'mnt')]);
    try {
      await assert.rejects(store.remove('linky'), status('BERTH_VOLUME_MOUNTED', 409));
      assert.ok(existsSync(volume.Mountpoint), 'refused: nothing removed');
    } finally {
      execFileSync('umount', [join(volume.Mountpoint, 'mnt')]);
    }
    assert.equal(await store.remove('linky'), true);
    assert.equal(readFileSync(join(outside, 'precious'), 'utf8'), 'keep\n');
    // A volume directory that is itself a symlink: only the link goes.
    await mkdir(join(dataRoot, 'volumes'), { recursive: true });
    await symlink(outside, join(dataRoot, 'volumes/evil'));
    assert.equal(await store.get('evil'), undefined);
    assert.equal(await store.remove('evil'), true);
    assert.equal(readFileSync(join(outside, 'precious'), 'utf8'), 'keep\n');
  });

  test('volumes of an older berth (a bare _data) are read; leftovers of a crash are cleaned', async () => {
    const dataRoot = join(root, 'store4');
    const anonName = 'ab'.repeat(32);
    await mkdir(join(dataRoot, 'volumes/oldnamed/_data'), { recursive: true });
    await mkdir(join(dataRoot, `volumes/${anonName}/_data`), { recursive: true });
    await mkdir(join(dataRoot, 'volumes/.tmp-0123/_data'), { recursive: true });
    await mkdir(join(dataRoot, 'volumes/.rm-4567/_data'), { recursive: true });
    const store = new LocalVolumeStore(dataRoot);
    const list = await store.list();
    assert.deepEqual(list.map((v) => [v.Name, v.Labels]), [[anonName, { [ANONYMOUS_LABEL]: '' }], ['oldnamed', null]]);
    await store.cleanup();
    assert.deepEqual((await readdir(join(dataRoot, 'volumes'))).sort(), [anonName, 'oldnamed']);
  });

  test('local driver options: plain and bind volumes; other types, keys and sizes refused with what is supported', () => {
    assert.deepEqual(parseLocalOptions(null), { kind: 'plain' });
    assert.deepEqual(parseLocalOptions({ type: 'none', o: 'bind', device: '/srv/x' }), { kind: 'bind', device: '/srv/x' });
    assert.throws(() => parseLocalOptions({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }), /only plain volumes and bind volumes/);
    assert.throws(() => parseLocalOptions({ type: 'nfs', o: 'addr=1.2.3.4', device: ':/x' }), /not supported by berth/);
    assert.throws(() => parseLocalOptions({ colour: 'red' }), /invalid option key: "colour"/);
    assert.throws(() => parseLocalOptions({ size: '10G' }), /no quota support/);
    assert.throws(() => parseLocalOptions({ type: 'none', o: 'bind', device: 'relative' }), /absolute device path/);
  });

  test('size counts files once (hard links) and not directories', async () => {
    const dir = join(root, 'sized');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a'), 'x'.repeat(1000));
    await link(join(dir, 'a'), join(dir, 'sub/a-again'));
    await writeFile(join(dir, 'sub/b'), 'y'.repeat(24));
    assert.equal(await diskUsage(dir), 1024);
    assert.equal(await diskUsage(join(root, 'no-such-dir')), -1);
  });
});

describe('copy-up of image content', () => {
  let rootfs: string;
  before(async () => {
    rootfs = join(root, 'rootfs');
    await mkdir(join(rootfs, 'etc/conf.d'), { recursive: true });
    await writeFile(join(rootfs, 'etc/conf.d/app.conf'), 'setting=1\n');
    await chown(join(rootfs, 'etc/conf.d/app.conf'), 1234, 5678);
    await chmod(join(rootfs, 'etc/conf.d/app.conf'), 0o640);
    await chown(join(rootfs, 'etc'), 42, 43);
    await chmod(join(rootfs, 'etc'), 0o750);
    await symlink('conf.d/app.conf', join(rootfs, 'etc/app.conf'));
    // Symlinks that would leave the rootfs on the host: resolved inside it instead.
    const hostSecret = join(root, 'host-secret');
    await mkdir(hostSecret, { recursive: true });
    await writeFile(join(hostSecret, 'key'), 'secret\n');
    await symlink(hostSecret, join(rootfs, 'abs-escape'));
    await symlink('../../../../../../../../..' + hostSecret, join(rootfs, 'rel-escape'));
    await mkdir(join(rootfs, 'empty'));
    await writeFile(join(rootfs, 'file'), 'not a dir\n');
  });

  const target = async (name: string) => {
    const dir = join(root, 'targets', name);
    await mkdir(dir, { recursive: true });
    return dir;
  };

  test('a directory is copied with owners, modes and symlinks kept; the volume root takes its owner and mode', async () => {
    const t = await target('etc');
    assert.equal(await copyUpImageContent(rootfs, '/etc', t), true);
    assert.equal(await readFile(join(t, 'conf.d/app.conf'), 'utf8'), 'setting=1\n');
    const st = await stat(join(t, 'conf.d/app.conf'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [1234, 5678, 0o640]);
    const top = await stat(t);
    assert.deepEqual([top.uid, top.gid, top.mode & 0o7777], [42, 43, 0o750]);
    assert.equal(execFileSync('readlink', [join(t, 'app.conf')], { encoding: 'utf8' }), 'conf.d/app.conf\n');
  });

  test('not into a volume that has content, not from a file, an empty or a missing path', async () => {
    const t = await target('full');
    await writeFile(join(t, 'mine'), 'x');
    assert.equal(await copyUpImageContent(rootfs, '/etc', t), false);
    assert.deepEqual(await readdir(t), ['mine']);
    for (const p of ['/file', '/empty', '/nope']) {
      const u = await target(`src${p.replace('/', '-')}`);
      assert.equal(await copyUpImageContent(rootfs, p, u), false, p);
      assert.deepEqual(await readdir(u), []);
    }
  });

  test('symlinks on the path resolve inside the rootfs: the host directory they name is never copied', async () => {
    for (const p of ['/abs-escape', '/rel-escape']) {
      const t = await target(p.slice(1));
      assert.equal(await copyUpImageContent(rootfs, p, t), false, p);
      assert.deepEqual(await readdir(t), [], `${p}: nothing from the host`);
    }
    // Inside the rootfs the same absolute target exists: that one is what gets copied.
    await mkdir(join(rootfs, root, 'host-secret'), { recursive: true });
    await writeFile(join(rootfs, root, 'host-secret/key'), 'image-content\n');
    const t = await target('abs-inside');
    assert.equal(await copyUpImageContent(rootfs, '/abs-escape', t), true);
    assert.equal(await readFile(join(t, 'key'), 'utf8'), 'image-content\n');
  });
});

describe('volumes with real containers', () => {
  let dataRoot: string;
  let images: ImageService;
  let containers: ContainerService;
  let volumes: VolumeService;
  const events = new EventHub();
  const seen: EngineEvent[] = [];

  const run = async (cmd: string[], hostConfig: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => {
    const { Id } = await containers.create({ Image: 'busybox', Cmd: cmd, HostConfig: { NetworkMode: 'none', ...hostConfig }, ...extra });
    await containers.start(Id);
    const { StatusCode } = await containers.wait(Id, 'not-running');
    let out = '';
    for await (const e of containers.logs(Id, {})) out += e.log;
    return { id: Id, code: StatusCode, out };
  };

  before(async () => {
    dataRoot = join(root, 'engine');
    const tar = join(root, 'busybox.tar');
    await makeBusyboxTar(root, tar);
    images = await ImageService.open(dataRoot);
    await importRootfs(images, createReadStream(tar), { ref: 'busybox:latest', changes: ['CMD ["sh"]'] });
    containers = await ContainerService.open({ dataRoot, images, events });
    volumes = await VolumeService.open({
      dataRoot,
      events,
      containers: () => containers.store.list(),
      findContainer: (id) => containers.store.find(id),
    });
    events.subscribe((e) => {
      if (e.Type === 'volume') seen.push(e);
    });
  });
  after(async () => {
    for (const c of containers?.list({ all: true }) ?? []) await containers.remove(c.Id, { force: true }).catch(() => {});
    await containers?.close();
  });

  test('a new named volume at /etc gets the image\'s /etc; an existing one keeps its content; nocopy copies nothing', async () => {
    const first = await run(['ls', '/etc'], { Binds: ['etcvol:/etc'] });
    assert.equal(first.code, 0);
    assert.equal(first.out, 'group\npasswd\n');
    const v = await volumes.inspect('etcvol');
    assert.deepEqual(await readdir(v.Mountpoint).then((l) => l.sort()), ['group', 'passwd']);
    await writeFile(join(v.Mountpoint, 'passwd'), 'changed\n');
    const second = await run(['cat', '/etc/passwd'], { Binds: ['etcvol:/etc'] });
    assert.equal(second.out, 'changed\n');
    const nocopy = await run(['ls', '/etc'], { Binds: ['emptyvol:/etc:nocopy'] });
    assert.equal(nocopy.out, '');
    const mount = await run(['ls', '/bin/busybox'], { Mounts: [{ Type: 'volume', Source: 'binvol', Target: '/bin' }] });
    assert.equal(mount.out, '/bin/busybox\n');
    const bind = await run(['ls', '/etc'], { Binds: [`${await target()}:/etc`] });
    assert.equal(bind.out, '', 'bind mounts get no copy-up');
    for (const id of [first.id, second.id, nocopy.id, mount.id, bind.id]) await containers.remove(id);
    async function target() {
      const dir = join(root, 'bind-etc');
      await mkdir(dir, { recursive: true });
      return dir;
    }
  });

  test('in use while any container refers to it (even one never started): 409; force does not override it', async () => {
    await volumes.create({ Name: 'held' });
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { Binds: ['held:/data'] } });
    await assert.rejects(volumes.remove('held'), (err) => isBerthError(err, 'BERTH_VOLUME_IN_USE') && err.status === 409 && err.message.includes(Id));
    await assert.rejects(volumes.remove('held', { force: true }), status('BERTH_VOLUME_IN_USE', 409));
    assert.deepEqual((await volumes.list(new Map([['dangling', ['false']]]))).map((v) => v.Name).includes('held'), true);
    assert.deepEqual((await volumes.list(new Map([['dangling', ['true']]]))).map((v) => v.Name).includes('held'), false);
    await containers.remove(Id);
    await volumes.remove('held');
    await assert.rejects(volumes.inspect('held'), (err) => isBerthError(err, 'BERTH_VOLUME_NOT_FOUND') && err.status === 404 && err.message === 'get held: no such volume');
    await volumes.remove('held', { force: true });
  });

  test('rm -v removes the container\'s anonymous volumes, not named ones nor ones another container uses', async () => {
    const a = await run(['sh', '-c', 'echo x > /anon/f'], { Binds: ['/anon', 'named1:/named'] });
    const anon = containers.get(a.id).AnonymousVolumes![0]!;
    assert.match(anon, /^[0-9a-f]{64}$/);
    assert.deepEqual((await volumes.inspect(anon)).Labels, { [ANONYMOUS_LABEL]: '' });
    await containers.remove(a.id, { volumes: true });
    await assert.rejects(volumes.inspect(anon), status('BERTH_VOLUME_NOT_FOUND', 404));
    await volumes.inspect('named1');
    const b = await run(['true'], { Binds: ['/anon2'] });
    const shared = containers.get(b.id).AnonymousVolumes![0]!;
    const c = await run(['true'], { Binds: [`${shared}:/s`] });
    await containers.remove(b.id, { volumes: true });
    await volumes.inspect(shared);
    await containers.remove(c.id);
  });

  test('prune: unused anonymous volumes only, unless all; labels filter; volumes with options and in use stay; old API prunes all', async () => {
    for (const v of await volumes.list()) await volumes.remove(v.Name).catch(() => {});
    const anon = await volumes.create({});
    const named = await volumes.create({ Name: 'keepme', Labels: { tier: 'db' } });
    const other = await volumes.create({ Name: 'other' });
    const withOpts = await volumes.create({ Name: 'bound', DriverOpts: { type: 'none', o: 'bind', device: root } });
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { Binds: ['other:/o'] } });
    await writeFile(join(anon.Mountpoint, 'f'), 'abc');
    await assert.rejects(volumes.prune(new Map([['until', ['1h']]]), true), status('BERTH_API_BAD_FILTERS', 400));
    await assert.rejects(volumes.prune(new Map([['all', ['maybe']]]), true), status('BERTH_API_BAD_FILTERS', 400));
    const r1 = await volumes.prune(new Map(), true);
    assert.deepEqual(r1, { VolumesDeleted: [anon.Name], SpaceReclaimed: 3 });
    const r2 = await volumes.prune(new Map([['all', ['true']], ['label!', ['tier=db']]]), true);
    assert.deepEqual(r2.VolumesDeleted, []);
    const r3 = await volumes.prune(new Map([['label', ['tier']]]), false);
    assert.deepEqual(r3.VolumesDeleted, [named.Name]);
    assert.deepEqual((await volumes.list()).map((v) => v.Name).sort(), [withOpts.Name, other.Name].sort());
    await containers.remove(Id);
    await volumes.remove('other');
    await volumes.remove('bound');
    assert.ok(existsSync(join(root, 'rootfs/etc')), 'a bind volume\'s device is never touched');
  });

  test('list filters: name (regular expression), label, driver; unknown filters are 400', async () => {
    await volumes.create({ Name: 'web-data', Labels: { app: 'web', tier: 'front' } });
    await volumes.create({ Name: 'db-data', Labels: { app: 'db' } });
    const names = async (f: Array<[string, string[]]>) => (await volumes.list(new Map(f))).map((v) => v.Name).sort();
    assert.deepEqual(await names([['name', ['data']]]), ['db-data', 'web-data']);
    assert.deepEqual(await names([['name', ['^web']]]), ['web-data']);
    assert.deepEqual(await names([['label', ['app']]]), ['db-data', 'web-data']);
    assert.deepEqual(await names([['label', ['app=web', 'tier']]]), ['web-data']);
    assert.deepEqual(await names([['driver', ['nfs']]]), []);
    await assert.rejects(volumes.list(new Map([['colour', ['red']]])), /invalid filter 'colour'/);
    await assert.rejects(volumes.list(new Map([['dangling', ['maybe']]])), /invalid filter 'dangling=maybe'/);
    await volumes.remove('web-data');
    await volumes.remove('db-data');
  });

  test('events: create, mount, unmount, destroy, prune, as dockerd sends them', async () => {
    seen.length = 0;
    const r = await run(['true'], { Binds: ['evvol:/data:ro'] });
    await containers.remove(r.id);
    await volumes.remove('evvol');
    await volumes.prune(new Map(), true);
    const summary = seen.map((e) => `${e.Action} ${e.Actor.ID}`);
    assert.deepEqual(summary, ['create evvol', 'mount evvol', 'unmount evvol', 'destroy evvol', 'prune ']);
    assert.deepEqual(seen[1]!.Actor.Attributes, { container: r.id, destination: '/data', driver: 'local', propagation: '', 'read/write': 'false' });
    assert.deepEqual(seen[2]!.Actor.Attributes, { container: r.id, driver: 'local' });
  });
});
