/**
 * A container's SizeRw as dockerd counts it (directory.Size of the overlay
 * upper dir; the changed files of a copy): file sizes only, directories not
 * counted, a hard link once — so a fresh container's writable layer is 0B,
 * where a du-style figure showed 4.1kB for its empty upper dir.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { changesSize } from '../../../src/snapshot/diff.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

test('overlay upper dir: empty is 0; files and symlinks count, directories do not, a hard link once', async () => {
  const upper = await makeTempDir();
  dirs.push(upper);
  assert.equal(await changesSize({ dir: upper, whiteouts: 'overlay', lowers: [] }), 0);
  await mkdir(join(upper, 'etc/deep'), { recursive: true });
  await writeFile(join(upper, 'etc/hostname'), '');
  assert.equal(await changesSize({ dir: upper, whiteouts: 'overlay', lowers: [] }), 0);
  await writeFile(join(upper, 'etc/deep/a'), 'x'.repeat(1000));
  await link(join(upper, 'etc/deep/a'), join(upper, 'a-again'));
  await symlink('etc/deep/a', join(upper, 'ln'));
  assert.equal(await changesSize({ dir: upper, whiteouts: 'overlay', lowers: [] }), 1000 + 'etc/deep/a'.length);
});

test('copy: only what differs from the parent tree', async () => {
  const root = await makeTempDir();
  dirs.push(root);
  const parent = join(root, 'parent');
  const child = join(root, 'child');
  await mkdir(join(parent, 'bin'), { recursive: true });
  await writeFile(join(parent, 'bin/tool'), 'y'.repeat(5000));
  execFileSync('cp', ['-a', parent, child]);
  assert.equal(await changesSize({ dir: child, whiteouts: 'delete', lowers: [], parentTree: parent }), 0);
  await writeFile(join(child, 'new'), 'z'.repeat(300));
  assert.equal(await changesSize({ dir: child, whiteouts: 'delete', lowers: [], parentTree: parent }), 300);
});
