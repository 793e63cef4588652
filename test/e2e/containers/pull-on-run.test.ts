/**
 * `run` of an image that is not there yet: the docker CLI and the berth CLI
 * get 404 "No such image" from create, pull from a registry on loopback,
 * create again and run — as with dockerd.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, type Env } from './helpers.ts';
import { startBerthRegistry, type TestRegistry } from '../images/registry-helper.ts';

describe('run pulls a missing image', () => {
  let e: Env;
  let reg: TestRegistry;
  let image: string;
  before(async () => {
    e = await setup('berth-e2e-ctr-pull-');
    reg = await startBerthRegistry();
    image = `${reg.addr}/e2e/runme:1`;
    assert.equal((await e.docker('tag', 'busybox:latest', image)).code, 0);
    const push = await e.docker('push', image);
    assert.equal(push.code, 0, push.stderr);
  });
  after(async () => {
    await reg?.stop();
    await e?.stop();
  });

  test('docker run: "Unable to find image", pull, run', async () => {
    assert.equal((await e.docker('rmi', image)).code, 0);
    const r = await e.docker('run', '--rm', image, 'echo', 'pulled-and-ran');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l === 'pulled-and-ran').length, 1);
    assert.match(r.stderr, new RegExp(`Unable to find image '${image.replace(/[.]/g, '\\.')}' locally`));
  });

  test('berth run: the same, progress on stderr, stdout is the container output only', async () => {
    assert.equal((await e.docker('rmi', image)).code, 0);
    const r = await e.berth('run', '--rm', image, 'echo', 'pulled-by-berth');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled-by-berth\n');
    assert.match(r.stderr, /Unable to find image .* locally/);
    const never = await e.berth('run', '--rm', '--pull', 'never', `${reg.addr}/e2e/absent:1`, 'true');
    assert.equal(never.code, 125);
    assert.match(never.stderr, /No such image/);
  });
});
