/**
 * Bad input to the image endpoints of a real berthd: each is a clear 4xx
 * with a message saying what and where, and nothing is written to the store.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';

interface Answer {
  status: number;
  body: string;
}

function call(socketPath: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const message = (a: Answer) => (JSON.parse(a.body) as { message: string }).message;

describe('image endpoints refuse bad input clearly', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  test('a reference that does not parse → 400 naming it, before any network traffic', async () => {
    const a = await call(d.socketPath, 'POST', '/v1.41/images/create?fromImage=Busy%20Box&tag=latest');
    assert.equal(a.status, 400);
    assert.match(message(a), /invalid reference format: "Busy Box"/);
    const t = await call(d.socketPath, 'POST', '/v1.41/images/create?fromImage=busybox&tag=bad%20tag');
    assert.equal(t.status, 400);
    assert.match(message(t), /invalid reference format/);
  });

  test('a malformed X-Registry-Auth header → 400', async () => {
    const a = await call(d.socketPath, 'POST', '/v1.41/images/create?fromImage=127.0.0.1:1/x&tag=1', undefined, { 'X-Registry-Auth': '!!!not-base64-json' });
    assert.equal(a.status, 400);
    assert.match(message(a), /invalid X-Registry-Auth header/);
  });

  test('images/create without fromImage or fromSrc, and import from a URL → 400', async () => {
    assert.equal((await call(d.socketPath, 'POST', '/v1.41/images/create')).status, 400);
    const u = await call(d.socketPath, 'POST', '/v1.41/images/create?fromSrc=http://127.0.0.1:1/x.tar');
    assert.equal(u.status, 400);
    assert.match(message(u), /import from a URL .* is not supported/);
  });

  test('an import body that is not a tarball → 4xx and no image appears', async () => {
    const a = await call(d.socketPath, 'POST', '/v1.41/images/create?fromSrc=-&repo=bad/import', Buffer.from('this is not a tar archive at all'.repeat(40)), {
      'Content-Type': 'application/x-tar',
    });
    assert.ok(a.status >= 400 && a.status < 500, `status ${a.status}: ${a.body}`);
    const list = await call(d.socketPath, 'GET', '/v1.41/images/json');
    assert.equal(list.body, '[]\n');
  });

  test('a load body that is not an image archive → 4xx, nothing loaded, no staging left behind', async () => {
    const a = await call(d.socketPath, 'POST', '/v1.41/images/load', Buffer.alloc(4096, 1), { 'Content-Type': 'application/x-tar' });
    assert.ok(a.status >= 400 && a.status < 500, `status ${a.status}: ${a.body}`);
    assert.equal((await call(d.socketPath, 'GET', '/v1.41/images/json')).body, '[]\n');
    const tmp = await readdir(join(d.dataRoot, 'tmp')).catch(() => []);
    assert.deepEqual(tmp, []);
  });

  test('filters: not JSON, unknown key, bad value → 400', async () => {
    const notJson = await call(d.socketPath, 'GET', '/v1.41/images/json?filters=%7Bnope');
    assert.equal(notJson.status, 400);
    assert.match(message(notJson), /filters parameter is not JSON/);
    const unknown = await call(d.socketPath, 'GET', `/v1.41/images/json?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    assert.equal(unknown.status, 400);
    assert.match(message(unknown), /colour/);
    const prune = await call(d.socketPath, 'POST', `/v1.41/images/prune?filters=${encodeURIComponent('{"dangling":["maybe"]}')}`);
    assert.equal(prune.status, 400);
  });

  test('tag without repo, tag with a digest, unknown images → 400/404', async () => {
    assert.equal((await call(d.socketPath, 'POST', '/v1.41/images/nope/tag')).status, 400);
    const dg = await call(d.socketPath, 'POST', `/v1.41/images/nope/tag?repo=${encodeURIComponent('x@sha256:' + 'a'.repeat(64))}`);
    assert.equal(dg.status, 400);
    const nf = await call(d.socketPath, 'GET', '/v1.41/images/nope:1/json');
    assert.equal(nf.status, 404);
    assert.equal(message(nf), 'No such image: nope:1');
    assert.equal((await call(d.socketPath, 'DELETE', '/v1.41/images/nope')).status, 404);
    assert.equal((await call(d.socketPath, 'GET', '/v1.41/images/nope/history')).status, 404);
    const save = await call(d.socketPath, 'GET', '/v1.41/images/get?names=nope');
    assert.equal(save.status, 404);
    const push = await call(d.socketPath, 'POST', '/v1.41/images/127.0.0.1:1/nope/push?tag=1');
    assert.equal(push.status, 404);
    assert.match(message(push), /An image does not exist locally with the tag: 127.0.0.1:1\/nope:1/);
  });

  test('search is a clear 501', async () => {
    const a = await call(d.socketPath, 'GET', '/v1.41/images/search?term=busybox');
    assert.equal(a.status, 501);
    assert.match(message(a), /not supported/);
  });

  test('events with until before since → 400; bad times → 400', async () => {
    assert.equal((await call(d.socketPath, 'GET', '/v1.41/events?since=200&until=100')).status, 400);
    assert.equal((await call(d.socketPath, 'GET', '/v1.41/events?since=yesterday')).status, 400);
  });
});
