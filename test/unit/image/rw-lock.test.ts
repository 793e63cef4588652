import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RwLock } from '../../../src/image/rw-lock.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('readers share; a writer waits for them and runs alone; readers arriving later wait for the writer', async () => {
  const lock = new RwLock();
  const log: string[] = [];
  let releaseA!: () => void;
  let releaseB!: () => void;
  const a = lock.shared(async () => {
    log.push('a+');
    await new Promise<void>((r) => (releaseA = r));
    log.push('a-');
  });
  const b = lock.shared(async () => {
    log.push('b+');
    await new Promise<void>((r) => (releaseB = r));
    log.push('b-');
  });
  await tick();
  const w = lock.exclusive(async () => {
    log.push('w+');
    await tick();
    log.push('w-');
  });
  const c = lock.shared(async () => {
    log.push('c');
  });
  await tick();
  assert.deepEqual(log, ['a+', 'b+'], 'the writer waits for both readers; c queues behind the writer');
  releaseA();
  await tick();
  assert.deepEqual(log, ['a+', 'b+', 'a-']);
  releaseB();
  await Promise.all([a, b, w, c]);
  assert.deepEqual(log, ['a+', 'b+', 'a-', 'b-', 'w+', 'w-', 'c']);
});

test('a failing holder releases the lock', async () => {
  const lock = new RwLock();
  await assert.rejects(lock.exclusive(async () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(await lock.shared(async () => 42), 42);
});

test('tryExclusive runs only when nobody holds the lock, and never waits', async () => {
  const lock = new RwLock();
  assert.deepEqual(await lock.tryExclusive(async () => 1), { ran: true, value: 1 });
  let release!: () => void;
  const reader = lock.shared(() => new Promise<void>((r) => (release = r)));
  await tick();
  assert.deepEqual(await lock.tryExclusive(async () => 2), { ran: false });
  release();
  await reader;
  assert.deepEqual(await lock.tryExclusive(async () => 3), { ran: true, value: 3 });
});
