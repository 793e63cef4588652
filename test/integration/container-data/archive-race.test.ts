import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxRootfs } from '../../helpers/busybox.ts';
import { getArchive, putArchive, statContainerPath } from '../../../src/container/archive.ts';
import { describeTree, makeTar, readTarEntries } from './helpers.ts';

/**
 * A running container can swap a directory for a symlink to a host path at
 * any moment (CVE-2018-15664 against docker cp). A process here does exactly
 * that, as fast as it can, while archives are read from and extracted into
 * the swapped path. Whatever each call returns (a result or an error), the
 * host directory must stay untouched and unread.
 */
describe('docker cp while the container swaps directories for symlinks to the host', () => {
  let dir: string;
  let rootfs: string;
  let sentinel: string;
  let listing: string[];
  let swapper: ChildProcess | undefined;

  before(async () => {
    dir = await makeTempDir('berth-cp-race-');
    rootfs = join(dir, 'rootfs');
    sentinel = join(dir, 'host');
    await mkdir(sentinel);
    await writeFile(join(sentinel, 'secret'), 'host secret\n');
    listing = await describeTree(sentinel);
    await makeBusyboxRootfs(rootfs);
    await mkdir(join(rootfs, 'work/race/sub'), { recursive: true });
    await writeFile(join(rootfs, 'work/race/sub/f'), 'container file\n');
    // The "container": swaps work/race (and work/race/sub) between a real directory and a symlink to the host dir.
    const script = `cd ${rootfs}/work || exit 1
while :; do
  mv race race.d 2>/dev/null; ln -s ${sentinel} race 2>/dev/null; rm -f race 2>/dev/null; mv race.d race 2>/dev/null
  mv race/sub race/sub.d 2>/dev/null; ln -s ../../../../../../../../..${sentinel} race/sub 2>/dev/null; rm -f race/sub 2>/dev/null; mv race/sub.d race/sub 2>/dev/null
done`;
    swapper = spawn('/bin/busybox', ['sh', '-c', script], { stdio: 'ignore' });
  });

  after(async () => {
    if (swapper && swapper.exitCode === null && swapper.signalCode === null) {
      const gone = new Promise((resolve) => swapper!.once('exit', resolve));
      swapper.kill('SIGKILL');
      await gone;
    }
    await removeTempDir(dir);
  });

  test('hundreds of reads and writes through the swapped paths never reach the host', async () => {
    let succeeded = 0;
    const payload = await makeTar([{ name: 'sub/', type: 'directory' }, { name: 'sub/pwned', body: 'x' }, { name: 'top-pwned', body: 'y' }]);
    for (let i = 0; i < 120; i++) {
      for (const p of ['/work/race/', '/work/race/sub/', '/work/race/sub/f']) {
        try {
          const { tar } = await getArchive(rootfs, p);
          const entries = await readTarEntries(tar);
          assert.ok(!entries.some((e) => e.body.toString().includes('host secret')), `archive of ${p} holds the host file`);
          succeeded++;
        } catch (err) {
          if ((err as Error).name === 'AssertionError') throw err;
        }
        await statContainerPath(rootfs, p).catch(() => {});
      }
      for (const p of ['/work/race', '/work/race/sub']) {
        try {
          await putArchive(rootfs, p, Readable.from([payload]));
          succeeded++;
        } catch {
          /* a race may fail a call; it must not escape */
        }
      }
    }
    assert.ok(succeeded > 0, 'some calls went through between swaps');
    assert.deepEqual(await describeTree(sentinel), listing);
    assert.equal(await readFile(join(sentinel, 'secret'), 'utf8'), 'host secret\n');
  });
});
