import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConfig } from '../../../src/container/service.ts';

const image = { Entrypoint: ['/entry.sh'], Cmd: ['serve'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/srv' };
const id = 'a'.repeat(64);

test('the image run config fills what the user left out (Docker\'s create-time merge)', () => {
  const m = mergeConfig({ Image: 'x', Env: ['A=user'] }, image, id);
  assert.deepEqual([m.Entrypoint, m.Cmd, m.WorkingDir, m.Hostname], [['/entry.sh'], ['serve'], '/srv', id.slice(0, 12)]);
  assert.deepEqual(m.Env, ['PATH=/bin', 'A=user']);
});

test('a user Cmd replaces the image Cmd and keeps its entrypoint; a user entrypoint drops the image Cmd', () => {
  assert.deepEqual(mergeConfig({ Image: 'x', Cmd: ['x'] }, image, id).Entrypoint, ['/entry.sh']);
  const m = mergeConfig({ Image: 'x', Entrypoint: ['/other'] }, image, id);
  assert.deepEqual([m.Entrypoint, m.Cmd], [['/other'], null]);
});

test('--entrypoint "" ([""]) clears the entrypoint: the user Cmd runs alone, not after the image entrypoint', () => {
  const m = mergeConfig({ Image: 'x', Entrypoint: [''], Cmd: ['echo', 'hi'] }, image, id);
  assert.equal(m.Entrypoint, null);
  assert.deepEqual(m.Cmd, ['echo', 'hi']);
});
