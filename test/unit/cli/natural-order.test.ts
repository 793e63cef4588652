import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naturalCompare } from '../../../src/cli/output.ts';

test("naturalCompare orders names as Go's sortorder.NaturalLess (the docker CLI's volume and network order)", () => {
  const sorted = (names: string[]) => [...names].sort(naturalCompare);
  assert.deepEqual(sorted(['vol10', 'vol9', 'vol1']), ['vol1', 'vol9', 'vol10']);
  assert.deepEqual(sorted(['b', 'a', '1', 'A']), ['1', 'A', 'a', 'b'], 'digits before other characters, then bytewise');
  assert.deepEqual(sorted(['x01', 'x1', 'x001']), ['x1', 'x01', 'x001'], 'equal numbers: fewer zeros first');
  assert.deepEqual(sorted(['ab', 'a', 'abc']), ['a', 'ab', 'abc']);
  assert.deepEqual(sorted(['e5f1', 'bvol', '0a3c', 'labelled']), ['0a3c', 'bvol', 'e5f1', 'labelled']);
  assert.equal(naturalCompare('same', 'same'), 0);
});
