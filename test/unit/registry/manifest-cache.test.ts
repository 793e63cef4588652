import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestCache } from '../../../src/registry/manifest-cache.ts';

const d = (n: number) => `sha256:${String(n).padStart(64, '0')}` as const;

test('the manifest cache stays under its byte bound, evicting the oldest first', () => {
  const cache = new ManifestCache(100);
  cache.set(d(1), Buffer.alloc(40, 1));
  cache.set(d(2), Buffer.alloc(40, 2));
  assert.equal(cache.get(d(1))?.[0], 1);
  cache.set(d(3), Buffer.alloc(40, 3));
  assert.equal(cache.get(d(1)), undefined, 'oldest evicted');
  assert.equal(cache.get(d(2))?.[0], 2);
  assert.equal(cache.get(d(3))?.[0], 3);
  cache.set(d(4), Buffer.alloc(101));
  assert.equal(cache.get(d(4)), undefined, 'larger than the whole cache: not kept');
  assert.equal(cache.get(d(3))?.[0], 3, 'and nothing was evicted for it');
});
