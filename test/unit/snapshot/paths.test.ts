import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cleanEntryPath } from '../../../src/snapshot/apply.ts';
import { chainIds } from '../../../src/snapshot/layers.ts';
import { isBerthError } from '../../../src/common/errors.ts';
import type { Digest } from '../../../src/content/types.ts';

test('entry paths are cleaned lexically and absolute paths rebased', () => {
  assert.deepEqual(cleanEntryPath('./etc/passwd', 'L'), ['etc', 'passwd']);
  assert.deepEqual(cleanEntryPath('/etc//passwd', 'L'), ['etc', 'passwd']);
  assert.deepEqual(cleanEntryPath('etc/./x/../passwd', 'L'), ['etc', 'passwd']);
  assert.deepEqual(cleanEntryPath('./', 'L'), []);
  assert.deepEqual(cleanEntryPath('/', 'L'), []);
  assert.deepEqual(cleanEntryPath('dir/', 'L'), ['dir']);
});

test('paths that climb out are refused with the entry and layer named', () => {
  for (const bad of ['..', '../x', 'a/../../x', '/../etc/passwd', './../../x', 'a/b/../../../c']) {
    assert.throws(() => cleanEntryPath(bad, 'sha256:abc'), (err: unknown) => {
      assert.ok(isBerthError(err, 'BERTH_SNAPSHOT_UNSAFE_PATH'), bad);
      assert.match((err as Error).message, /sha256:abc/);
      assert.ok((err as Error).message.includes(bad));
      return true;
    });
  }
  assert.throws(() => cleanEntryPath('a\0b', 'L'), (err: unknown) => isBerthError(err, 'BERTH_SNAPSHOT_UNSAFE_PATH'));
});

test('chain IDs per the OCI image spec', () => {
  const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;
  const c1 = `sha256:${createHash('sha256').update(`${d('1')} ${d('2')}`).digest('hex')}`;
  const c2 = `sha256:${createHash('sha256').update(`${c1} ${d('3')}`).digest('hex')}`;
  assert.deepEqual(chainIds([d('1'), d('2'), d('3')]), [d('1'), c1, c2]);
  assert.deepEqual(chainIds([d('1')]), [d('1')], 'a single layer is its own chain');
  assert.notEqual(chainIds([d('2'), d('1')])[1], c1, 'order matters');
});
