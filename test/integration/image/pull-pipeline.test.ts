/**
 * The pipelined pull (src/image/pull-pipeline.ts): layers unpacked while the
 * rest still downloads, in parallel, from Debian's docker-registry on
 * loopback (images pushed there by skopeo from OCI layouts written here).
 *
 * - the snapshots it leaves are the same trees, layer by layer, as applying
 *   the layers one after the other onto complete lowers (file lists, modes,
 *   owners, mtimes, contents, symlinks, whiteouts, opaque dirs, xattrs,
 *   hardlinks), on an image with deletions, opaque dirs, hardlinks into a
 *   lower layer, implied dirs, devices and a few hundred small files;
 * - a blob the registry serves corrupted (digest mismatch) and a layer whose
 *   content does not match the config's diff_id leave no snapshot for that
 *   layer or above, no extraction left over and no image registered;
 * - two concurrent pulls of one image unpack every layer once, and a pull
 *   sharing layers with a concurrent pull that fails still completes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerRegistry, type DockerRegistry } from '../../helpers/peers/docker-registry.ts';
import { skopeoCopy } from '../../helpers/peers/skopeo.ts';
import { makeTar, gz, streamOf, describeTree, type FixtureEntry } from '../snapshot/fixtures.ts';
import { ImageService } from '../../../src/image/service.ts';
import { pullAndUnpack } from '../../../src/image/pull-pipeline.ts';
import { chainIds } from '../../../src/image/chain-id.ts';
import { openContentStore } from '../../../src/content/local.ts';
import { openSnapshotter } from '../../../src/snapshot/open.ts';
import { applyLayer } from '../../../src/snapshot/apply.ts';
import type { Snapshotter } from '../../../src/snapshot/types.ts';
import type { Digest } from '../../../src/content/types.ts';
import { MediaTypes } from '../../../src/oci/image-spec.ts';

const NO_CREDS = '/nonexistent/berth-test/config.json';
const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface BuiltImage {
  /** gzip blobs, bottom layer first. */
  blobs: Buffer[];
  diffIds: Digest[];
}

/** Layers that exercise everything the unpack treats specially; `salt` makes blobs unique to one image. */
async function imageLayers(salt: string): Promise<Buffer[]> {
  const small: FixtureEntry[] = [{ name: 'data/', type: 'directory' }];
  for (let d = 0; d < 12; d++) {
    small.push({ name: `data/d${d}/`, type: 'directory', mode: d % 2 ? 0o750 : 0o755, uid: d, gid: 100 + d });
    for (let f = 0; f < 30; f++) small.push({ name: `data/d${d}/f${f}.txt`, body: `${salt} file ${d}/${f}\n`.repeat(f + 1), mode: f % 3 ? 0o644 : 0o600, uid: 1000 + f });
  }
  small.push({ name: 'data/big.bin', body: randomBytes(3 * 1024 * 1024), mode: 0o640, uid: 7, gid: 8 });
  small.push({ name: 'data/link-to-big', type: 'link', linkname: 'data/big.bin' });
  const layers: FixtureEntry[][] = [
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', body: `root:x:0:0:${salt}:/root:/bin/sh\n` },
      { name: 'etc/hosts', body: '127.0.0.1 localhost\n', mode: 0o644 },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory', mode: 0o755 },
      { name: 'usr/bin/tool', body: `#!/bin/sh\necho ${salt}\n`, mode: 0o4755, uid: 0, gid: 0 },
      { name: 'usr/bin/alias', type: 'symlink', linkname: 'tool' },
      { name: 'usr/bin/hard', type: 'link', linkname: 'usr/bin/tool' },
      { name: 'opt/', type: 'directory' },
      { name: 'opt/keep/', type: 'directory', mode: 0o711, uid: 33, gid: 33 },
      { name: 'opt/keep/old-a', body: 'a' },
      { name: 'opt/keep/old-b', body: 'b' },
      { name: 'gone/', type: 'directory' },
      { name: 'gone/x', body: 'x' },
      { name: 'dev/', type: 'directory' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600 },
      { name: 'var/', type: 'directory' },
      { name: 'var/lib/', type: 'directory', mode: 0o751 },
      { name: 'var/lib/secret/', type: 'directory', mode: 0o700, uid: 5, gid: 6 },
      { name: 'var/lib/secret/key', body: 'k', mode: 0o400, uid: 5, gid: 6, pax: { 'SCHILY.xattr.user.label': 'secret' } },
    ],
    [
      { name: '.wh.gone', body: '' },
      { name: 'etc/.wh.hosts', body: '' },
      { name: 'etc/passwd', body: `root:x:0:0:changed ${salt}:/root:/bin/sh\n`, mode: 0o600 },
      { name: 'opt/keep/.wh..wh..opq', body: '' },
      { name: 'opt/keep/new', body: 'new in layer 1' },
      // a hardlink to a file of the layer below: materialised as a copy in this layer's dir
      { name: 'usr/bin/hard-lower', type: 'link', linkname: 'usr/bin/tool' },
      // implied parent dirs (no entries): take the lower dir's metadata
      { name: 'var/lib/secret/more', body: 'more', mode: 0o400, uid: 5, gid: 6 },
    ],
    small,
    [
      { name: 'gone/', type: 'directory', mode: 0o700 },
      { name: 'gone/again', body: `back ${salt}` },
      { name: 'data/d3/.wh.f7.txt', body: '' },
      { name: 'data/d4/.wh..wh..opq', body: '' },
      { name: 'data/d4/only', body: 'only this' },
      { name: 'usr/bin/alias', body: 'a file now, not a symlink' },
    ],
  ];
  return Promise.all(layers.map((entries) => makeTar(entries)));
}

/** Write an OCI layout for the layers (wrong diff_id at `badDiffIdAt` if given) and push it with skopeo. */
async function pushImage(dir: string, registry: DockerRegistry, repo: string, tars: Buffer[], options: { badDiffIdAt?: number } = {}): Promise<BuiltImage> {
  const layout = join(dir, `layout-${repo.replace(/\W/g, '_')}`);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    const d = sha(b);
    await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const blobs = tars.map((t) => gz(t));
  const diffIds = tars.map((t) => sha(t));
  const configDiffIds = diffIds.map((d, i) => (i === options.badDiffIdAt ? sha(Buffer.from(`not layer ${i}`)) : d));
  const layers = [];
  for (const b of blobs) layers.push({ mediaType: MediaTypes.ociLayerTarGzip, ...(await put(b)) });
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-11-23T00:00:00Z',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: configDiffIds },
    history: tars.map(() => ({ created: '2026-11-23T00:00:00Z', created_by: 'pull-pipeline test' })),
  }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig, ...(await put(config)) }, layers }));
  const m = await put(manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: MediaTypes.ociManifest, ...m, annotations: { 'org.opencontainers.image.ref.name': '1' } }],
  }));
  await skopeoCopy(`oci:${layout}:1`, `docker://${registry.host}/${repo}:1`, { tmpdir: dir });
  return { blobs, diffIds };
}

/** The registry keeps blobs by digest: flip bytes in one blob's data (same size), as a disk or proxy might. */
async function corruptBlob(registry: DockerRegistry, blob: Buffer): Promise<void> {
  const hex = sha(blob).slice(7);
  const data = join(registry.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  const bytes = await readFile(data);
  for (let i = 100; i < 200; i++) bytes[i] = bytes[i]! ^ 0xff;
  await writeFile(data, bytes);
}

/** Groups of paths sharing an inode (hardlinks) under root, as sorted lines. */
async function hardlinkGroups(root: string): Promise<string[]> {
  const byInode = new Map<number, string[]>();
  async function walk(rel: string): Promise<void> {
    for (const n of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(root, r));
      if (st.isDirectory()) await walk(r);
      else if (st.nlink > 1) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), r]);
    }
  }
  await walk('');
  return [...byInode.values()].map((g) => g.sort().join(' = ')).sort();
}

/**
 * `run/` in layer 0 is implied (no entry, nothing below): like docker, it is
 * made when unpacked, so its mtime is the time of the unpack in both trees.
 */
function stableTimes(lines: string[]): string[] {
  return lines.map((l) => (l.startsWith('d run ') ? l.replace(/ t=\d+/, ' t=(unpack time)') : l));
}

/** Every extraction snapshot still there (there must be none after a pull, good or bad). */
async function extractions(s: Snapshotter): Promise<string[]> {
  return (await s.list()).filter((i) => i.key.startsWith('extract-')).map((i) => i.key);
}

describe('pipelined pull from docker-registry', () => {
  let dir: string;
  let registry: DockerRegistry;
  let good: BuiltImage;
  let corrupt: BuiltImage;
  let badDiff: BuiltImage;

  before(async () => {
    dir = await makeTempDir('berth-pull-pipeline-');
    registry = await startDockerRegistry();
    good = await pushImage(dir, registry, 'pipe/good', await imageLayers('good'));
    badDiff = await pushImage(dir, registry, 'pipe/baddiff', await imageLayers('baddiff'), { badDiffIdAt: 2 });
    corrupt = await pushImage(dir, registry, 'pipe/corrupt', await imageLayers('corrupt'));
    await corruptBlob(registry, corrupt.blobs[2]!);
  });
  after(async () => {
    await registry?.stop();
    if (dir) await removeTempDir(dir);
  });

  test('the snapshots are the same trees as applying the layers one after the other', async () => {
    const svc = await ImageService.open(join(dir, 'root-good'), { dockerConfigPath: NO_CREDS });
    assert.equal(svc.snapshotter?.name, 'overlayfs', 'the pipelined path is the overlay one');
    const r = await svc.pull(`${registry.host}/pipe/good:1`);
    const details = await svc.inspect(r.id);
    const ids = chainIds(good.diffIds);
    assert.equal(details.chainId, ids[ids.length - 1]);

    // Reference: each layer applied onto its own dir with every lower layer complete.
    const refDirs: string[] = [];
    for (let i = 0; i < good.blobs.length; i++) {
      const target = join(dir, 'sequential', String(i));
      await mkdir(target, { recursive: true });
      await applyLayer(streamOf(good.blobs[i]!), { target, whiteouts: 'overlay', lowers: [...refDirs].reverse() });
      refDirs.push(target);
    }
    for (let i = 0; i < ids.length; i++) {
      const info = await svc.snapshotter!.stat(ids[i]!);
      assert.equal(info.kind, 'committed');
      assert.equal(info.parent, i > 0 ? ids[i - 1] : undefined, `layer ${i} is stacked on its chain`);
      const pulled: string = (await svc.snapshotter!.dirs(ids[i]!)).dir;
      assert.deepEqual(stableTimes(await describeTree(pulled)), stableTimes(await describeTree(refDirs[i]!)), `layer ${i}: same tree`);
      assert.deepEqual(await hardlinkGroups(pulled), await hardlinkGroups(refDirs[i]!), `layer ${i}: same hardlinks`);
    }
    // The comparison is not vacuous: the special cases are there.
    const l1 = await describeTree((await svc.snapshotter!.dirs(ids[1]!)).dir);
    assert.ok(l1.some((l) => l.startsWith('c gone ') && l.endsWith('rdev=0')), 'whiteout of a dir as a 0/0 char device');
    assert.ok(l1.some((l) => l.startsWith('d opt/keep ') && l.includes('trusted.overlay.opaque=79')), 'opaque dir');
    assert.ok(l1.some((l) => l.startsWith('d var/lib/secret 700 5:6')), 'implied dir takes the lower dir metadata');
    assert.ok(l1.some((l) => l.startsWith('f usr/bin/hard-lower 4755 0:0')), 'hardlink to a lower file materialised');
    assert.deepEqual(await hardlinkGroups((await svc.snapshotter!.dirs(ids[2]!)).dir), ['data/big.bin = data/link-to-big']);
    assert.deepEqual(await extractions(svc.snapshotter!), []);
  });

  test('pullAndUnpack overlaps: the unpack starts from the manifest seen on the wire', async () => {
    const root = join(dir, 'root-lib');
    const store = await openContentStore(join(root, 'content'));
    const snapshotter = await openSnapshotter({ dataRoot: root });
    const r = await pullAndUnpack({ reference: `${registry.host}/pipe/good:1`, store, snapshotter, credentials: null, configPath: NO_CREDS });
    assert.equal(r.overlapped, true);
    assert.equal(r.unpacked.chainId, chainIds(good.diffIds).at(-1));
    assert.equal((await snapshotter.find(r.unpacked.chainId!))?.kind, 'committed');
  });

  test('a corrupted blob mid-pipeline: digest mismatch, no snapshot for it or above, nothing left over, no image', async () => {
    const svc = await ImageService.open(join(dir, 'root-corrupt'), { dockerConfigPath: NO_CREDS });
    await assert.rejects(svc.pull(`${registry.host}/pipe/corrupt:1`), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_DISTRIBUTION_DIGEST_MISMATCH');
      assert.match(err.message, new RegExp(sha(corrupt.blobs[2]!)));
      return true;
    });
    const ids = chainIds(corrupt.diffIds);
    for (let i = 2; i < ids.length; i++) assert.equal(await svc.snapshotter!.find(ids[i]!), undefined, `no snapshot for chain ${i}`);
    assert.deepEqual(await extractions(svc.snapshotter!), []);
    assert.equal(await svc.content.has(sha(corrupt.blobs[2]!)), false, 'the corrupt blob is not stored');
    assert.deepEqual(await svc.list({ all: true }), []);
    // Verified layers below it may stay as a cache; no image uses them, so GC takes them.
    await svc.gc();
    assert.deepEqual((await svc.snapshotter!.list()).map((i) => i.key), []);
  });

  test('a layer that does not match its diff_id: no snapshot for it or above, nothing left over, no image', async () => {
    const svc = await ImageService.open(join(dir, 'root-baddiff'), { dockerConfigPath: NO_CREDS });
    await assert.rejects(svc.pull(`${registry.host}/pipe/baddiff:1`), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BERTH_SNAPSHOT_DIFFID_MISMATCH');
      assert.match(err.message, new RegExp(sha(badDiff.blobs[2]!)));
      return true;
    });
    const configIds = [...badDiff.diffIds];
    configIds[2] = sha(Buffer.from('not layer 2'));
    const ids = chainIds(configIds);
    for (let i = 2; i < ids.length; i++) assert.equal(await svc.snapshotter!.find(ids[i]!), undefined, `no snapshot for chain ${i}`);
    assert.deepEqual(await extractions(svc.snapshotter!), []);
    assert.deepEqual(await svc.list({ all: true }), []);
    await svc.gc();
    assert.deepEqual((await svc.snapshotter!.list()).map((i) => i.key), []);
  });

  test('a pull sharing layers with a failing concurrent pull still completes (it unpacks from its own download)', async () => {
    // The same image on a second registry, served intact there and corrupted on the first.
    const second = await startDockerRegistry();
    try {
      const tars = await imageLayers('shared');
      const built = await pushImage(dir, registry, 'pipe/shared', tars);
      await pushImage(dir, second, 'pipe/shared', tars);
      await corruptBlob(registry, built.blobs[2]!);
      const svc = await ImageService.open(join(dir, 'root-shared'), { dockerConfigPath: NO_CREDS });
      const [bad, ok] = await Promise.allSettled([svc.pull(`${registry.host}/pipe/shared:1`), svc.pull(`${second.host}/pipe/shared:1`)]);
      // The first pull fails on the corrupt blob, unless it joined the second's download of it (blobs are shared by digest).
      if (bad.status === 'rejected') assert.equal(bad.reason.code, 'BERTH_DISTRIBUTION_DIGEST_MISMATCH');
      assert.equal(ok.status, 'fulfilled', `the intact pull failed: ${(ok as PromiseRejectedResult).reason?.message}`);
      const ids = chainIds(built.diffIds);
      for (const c of ids) assert.equal((await svc.snapshotter!.find(c))?.kind, 'committed');
      const tags = (await svc.list()).flatMap((i) => i.repoTags);
      assert.ok(tags.includes(`${second.host}/pipe/shared:1`));
      assert.equal(tags.includes(`${registry.host}/pipe/shared:1`), bad.status === 'fulfilled', 'only a pull that succeeded registers its tag');
      assert.deepEqual(await extractions(svc.snapshotter!), []);
    } finally {
      await second.stop();
    }
  });

  test('two concurrent pulls of one image unpack each layer once', async () => {
    const root = join(dir, 'root-twice');
    const real = await openSnapshotter({ dataRoot: root });
    const prepared = new Map<string, number>();
    // The real snapshotter, with its extraction prepares counted per chain.
    const counted = new Proxy(real, {
      get(target, prop) {
        if (prop === 'prepare') {
          return (key: string, parent?: string, options?: { labels?: Record<string, string> }) => {
            const chain = options?.labels?.['berth.io/extracting'];
            if (chain) prepared.set(chain, (prepared.get(chain) ?? 0) + 1);
            return target.prepare(key, parent, options);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Snapshotter;
    const svc = await ImageService.open(root, { dockerConfigPath: NO_CREDS, snapshotter: counted });
    const ref = `${registry.host}/pipe/good:1`;
    const [a, b] = await Promise.all([svc.pull(ref), svc.pull(ref)]);
    assert.equal(a.id, b.id);
    const ids = chainIds(good.diffIds);
    assert.deepEqual([...prepared.entries()].sort(), ids.map((c) => [c, 1] as [string, number]).sort(), 'one extraction per layer');
    for (const c of ids) assert.equal((await real.find(c))?.kind, 'committed');
    assert.deepEqual(await extractions(real), []);
  });
});
