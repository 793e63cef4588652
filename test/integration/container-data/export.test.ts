import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, link, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxRootfs } from '../../helpers/busybox.ts';
import { exportContainer } from '../../../src/container/export.ts';
import { describeTree, readAll, readTarEntries, T0 } from './helpers.ts';

describe('docker export', () => {
  let dir: string;
  let rootfs: string;
  const mounted: string[] = [];
  before(async () => {
    dir = await makeTempDir('berth-export-');
    rootfs = join(dir, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    await mkdir(join(rootfs, 'srv/app'), { recursive: true });
    await writeFile(join(rootfs, 'srv/app/data'), 'data\n');
    await chown(join(rootfs, 'srv/app/data'), 1234, 4321);
    await chmod(join(rootfs, 'srv/app/data'), 0o2640);
    await link(join(rootfs, 'srv/app/data'), join(rootfs, 'srv/app/data2'));
    await symlink('../app/data', join(rootfs, 'srv/app/rel'));
    execFileSync('mknod', [join(rootfs, 'srv/app/zero'), 'c', '1', '5']);
    execFileSync('mknod', [join(rootfs, 'srv/app/loop9'), 'b', '7', '9']);
    execFileSync('mknod', [join(rootfs, 'srv/app/pipe'), 'p']);
    await utimes(join(rootfs, 'srv/app/data'), T0, T0);
    // What a running container's view has: /proc, /sys and /dev are other filesystems with contents.
    for (const [where, type] of [['proc', 'proc'], ['sys', 'tmpfs'], ['dev', 'tmpfs']] as const) {
      execFileSync('mount', ['-t', type, type, join(rootfs, where)]);
      mounted.push(join(rootfs, where));
    }
    await writeFile(join(rootfs, 'sys/host-file'), 'not exported\n');
    execFileSync('mknod', [join(rootfs, 'dev/null'), 'c', '1', '3']);
  });
  after(async () => {
    for (const m of mounted.reverse()) {
      try {
        execFileSync('umount', ['-l', m]);
      } catch {
        /* already gone */
      }
    }
    await removeTempDir(dir);
  });

  test('the whole filesystem with owners, modes, links and devices, mount contents skipped', async () => {
    const entries = await readTarEntries(await exportContainer(rootfs));
    const names = entries.map((e) => e.name);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.ok(!names.some((n) => n === '' || n === './' || n === '/' || n.startsWith('./') || n.startsWith('/')), 'names are relative without ./');
    for (const d of ['proc/', 'sys/', 'dev/']) assert.ok(names.includes(d), `${d} is kept`);
    assert.ok(!names.some((n) => /^(proc|sys|dev)\/./.test(n)), 'contents of /proc, /sys, /dev mounts are not exported');
    assert.ok(names.includes('bin/busybox') && names.includes('bin/sh'));
    assert.equal(byName.get('bin/sh')!.type, 'symlink');
    assert.equal(byName.get('bin/sh')!.linkname, 'busybox');
    const data = byName.get('srv/app/data')!;
    assert.deepEqual([data.type, data.uid, data.gid, data.mode, data.mtime, data.body.toString()], ['file', 1234, 4321, 0o2640, T0.getTime() / 1000, 'data\n']);
    assert.deepEqual([byName.get('srv/app/data2')!.type, byName.get('srv/app/data2')!.linkname], ['link', 'srv/app/data']);
    assert.deepEqual([byName.get('srv/app/zero')!.type, byName.get('srv/app/zero')!.devmajor, byName.get('srv/app/zero')!.devminor], ['character-device', 1, 5]);
    assert.deepEqual([byName.get('srv/app/loop9')!.type, byName.get('srv/app/loop9')!.devmajor, byName.get('srv/app/loop9')!.devminor], ['block-device', 7, 9]);
    assert.equal(byName.get('srv/app/pipe')!.type, 'fifo');
    assert.equal(byName.get('tmp/')!.mode, 0o1777);
    // directories come before what is in them, names in byte order
    assert.ok(names.indexOf('srv/') < names.indexOf('srv/app/') && names.indexOf('srv/app/') < names.indexOf('srv/app/data'));
  });

  test('GNU tar unpacks the export into the same tree', async () => {
    const out = join(dir, 'unpacked');
    await mkdir(out);
    const tarPath = join(dir, 'export.tar');
    await writeFile(tarPath, await readAll(await exportContainer(rootfs)));
    execFileSync('tar', ['--numeric-owner', '-xpf', tarPath, '-C', out]);
    // the mount points themselves carry the mounted filesystems' metadata: compare everything else
    const strip = (lines: string[]) => lines.filter((l) => !/^d (proc|sys|dev) /.test(l));
    const skip = ['proc', 'sys', 'dev'];
    assert.deepEqual(strip(await describeTree(out, skip)), strip(await describeTree(rootfs, skip)));
    assert.deepEqual((await describeTree(out)).filter((l) => / (proc|sys|dev)\//.test(l)), []);
  });

  test('a rootfs that cannot be opened is a clear error', async () => {
    await assert.rejects(exportContainer(join(dir, 'missing')), /BERTH_CONTAINER_ROOTFS|cannot be opened/);
  });

  test('an overlay rootfs (as a container has) exports the merged view: upper changes, lower files, whiteouts hidden', async () => {
    const base = join(dir, 'ovl');
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(base, d), { recursive: true });
    await makeBusyboxRootfs(join(base, 'lower'));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(base, 'lower')},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`, join(base, 'merged')]);
    mounted.push(join(base, 'merged'));
    const merged = join(base, 'merged');
    await writeFile(join(merged, 'etc/added'), 'added\n');
    execFileSync('rm', [join(merged, 'etc/group')]);
    const names = (await readTarEntries(await exportContainer(merged))).map((e) => e.name);
    assert.ok(names.includes('etc/added'));
    assert.ok(names.includes('bin/busybox'), 'lower-layer files are in the export');
    assert.ok(!names.includes('etc/group'), 'a deleted file is not exported');
    assert.ok(!names.some((n) => n.includes('.wh.')), 'no whiteouts');
    const gnu = execFileSync('tar', ['--numeric-owner', '-C', merged, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
    const gnuNames = (await readTarEntries(gnu)).map((e) => e.name.replace(/^\.\//, '')).filter((n) => n !== '' && n !== './');
    assert.deepEqual([...names].sort(), [...gnuNames].sort());
  });
});
