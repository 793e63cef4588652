import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestRegistry, sha256, errorCode, pushBlob, rawRequest, type ErrorBody, type RegistryFixture } from './registry-fixture.ts';

describe('registry blobs', () => {
  let reg: RegistryFixture;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => {
    await reg?.close();
  });

  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await fetch(`${reg.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(await res.json(), {});
  });

  test('monolithic POST ?digest= stores the blob; HEAD and GET serve it with digest and length', async () => {
    const bytes = randomBytes(300_000);
    const digest = sha256(bytes);
    const post = await fetch(`${reg.url}/v2/lib/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    assert.equal(post.status, 201);
    assert.equal(post.headers.get('location'), `/v2/lib/mono/blobs/${digest}`);
    assert.equal(post.headers.get('docker-content-digest'), digest);

    const head = await fetch(`${reg.url}/v2/lib/mono/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);

    const get = await fetch(`${reg.url}/v2/lib/mono/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes));
  });

  test('range reads answer 206 with Content-Range; an unsatisfiable range is 416', async () => {
    const bytes = randomBytes(1000);
    const digest = await pushBlob(reg.url, 'lib/range', bytes);
    const part = await fetch(`${reg.url}/v2/lib/range/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/1000');
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200)));

    const open = await fetch(`${reg.url}/v2/lib/range/blobs/${digest}`, { headers: { Range: 'bytes=990-' } });
    assert.equal(open.status, 206);
    assert.ok(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(990)));

    const suffix = await fetch(`${reg.url}/v2/lib/range/blobs/${digest}`, { headers: { Range: 'bytes=-5' } });
    assert.equal(suffix.status, 206);
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(995)));

    const beyond = await fetch(`${reg.url}/v2/lib/range/blobs/${digest}`, { headers: { Range: 'bytes=1000-1100' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), 'bytes */1000');
    await beyond.arrayBuffer();
  });

  test('the empty blob is stored and served with length 0', async () => {
    const digest = await pushBlob(reg.url, 'lib/empty', Buffer.alloc(0));
    assert.equal(digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const get = await fetch(`${reg.url}/v2/lib/empty/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-length'), '0');
    assert.equal((await get.arrayBuffer()).byteLength, 0);
  });

  test('a blob whose file left the store is 404 BLOB_UNKNOWN, not a broken stream', async () => {
    const digest = await pushBlob(reg.url, 'lib/vanish', Buffer.from('here, then gone'));
    await unlink(join(reg.root, 'content/blobs/sha256', digest.slice(7)));
    const get = await fetch(`${reg.url}/v2/lib/vanish/blobs/${digest}`);
    assert.equal(get.status, 404);
    assert.equal(await errorCode(get), 'BLOB_UNKNOWN');
  });

  test('unknown blob is 404 BLOB_UNKNOWN, also when it exists only in another repository', async () => {
    const digest = await pushBlob(reg.url, 'lib/owner', Buffer.from('private to owner'));
    const res = await fetch(`${reg.url}/v2/lib/other/blobs/${digest}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');
    const none = await fetch(`${reg.url}/v2/lib/owner/blobs/${sha256('never pushed')}`, { method: 'HEAD' });
    assert.equal(none.status, 404);
  });

  test('a monolithic upload with the wrong digest is 400 DIGEST_INVALID and stores nothing', async () => {
    const bytes = Buffer.from('these bytes do not match');
    const wrong = sha256('something else');
    const res = await fetch(`${reg.url}/v2/lib/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: bytes });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    for (const d of [wrong, sha256(bytes)]) {
      assert.equal((await fetch(`${reg.url}/v2/lib/bad/blobs/${d}`, { method: 'HEAD' })).status, 404);
    }
    const blobs = await readdir(join(reg.root, 'content/blobs/sha256'));
    assert.ok(!blobs.includes(sha256(bytes).slice(7)), 'the mismatching bytes must not be in the store');
  });

  test('malformed and unsupported digests are 400 DIGEST_INVALID', async () => {
    for (const d of ['sha256:abc', 'sha512:' + 'a'.repeat(128), 'nonsense']) {
      const res = await fetch(`${reg.url}/v2/lib/mono/blobs/${d}`);
      assert.equal(res.status, 400, d);
      assert.equal(await errorCode(res), 'DIGEST_INVALID');
    }
  });

  test('invalid repository names are 400 NAME_INVALID', async () => {
    for (const name of ['UPPER/case', 'a//b', 'a/-b', 'trailing-', 'a/_layers', 'x'.repeat(256)]) {
      const res = await fetch(`${reg.url}/v2/${name}/blobs/${sha256('x')}`);
      assert.equal(res.status, 400, name);
      assert.equal(await errorCode(res), 'NAME_INVALID', name);
    }
  });

  test('path escapes in the repository name are refused and write nothing outside the root', async () => {
    for (const path of ['/v2/../../escape/blobs/uploads/', '/v2/a/%2e%2e/%2e%2e/%2e%2e/escape/blobs/uploads/', '/v2/a%2F..%2F..%2Fescape/blobs/uploads/']) {
      const res = await rawRequest(reg.url, 'POST', path);
      assert.equal(res.status, 400, path);
      assert.equal((JSON.parse(res.body) as ErrorBody).errors[0]!.code, 'NAME_INVALID', path);
    }
    assert.deepEqual((await readdir(reg.dir)).sort(), ['root']);
    assert.ok(!(await readdir(reg.root)).includes('escape'));
  });

  test('DELETE removes the blob from the repository (202), then 404; again 404', async () => {
    const digest = await pushBlob(reg.url, 'lib/del', Buffer.from('to delete'));
    const del = await fetch(`${reg.url}/v2/lib/del/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await fetch(`${reg.url}/v2/lib/del/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    const again = await fetch(`${reg.url}/v2/lib/del/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'BLOB_UNKNOWN');
  });

  test('cross-repository mount answers 201 and makes the blob visible; an unknown blob gets a 202 session', async () => {
    const digest = await pushBlob(reg.url, 'lib/src', Buffer.from('mount me'));
    const mount = await fetch(`${reg.url}/v2/lib/dst/blobs/uploads/?mount=${digest}&from=lib/src`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.get('location'), `/v2/lib/dst/blobs/${digest}`);
    assert.equal(mount.headers.get('docker-content-digest'), digest);
    assert.equal((await fetch(`${reg.url}/v2/lib/dst/blobs/${digest}`, { method: 'HEAD' })).status, 200);

    // from a repository that does not have it: fall back to an upload session
    const missing = await fetch(`${reg.url}/v2/lib/dst2/blobs/uploads/?mount=${digest}&from=lib/nothere`, { method: 'POST' });
    assert.equal(missing.status, 202);
    assert.match(missing.headers.get('location') ?? '', /^\/v2\/lib\/dst2\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal((await fetch(`${reg.url}/v2/lib/dst2/blobs/${digest}`, { method: 'HEAD' })).status, 404);

    const unknown = await fetch(`${reg.url}/v2/lib/dst3/blobs/uploads/?mount=${sha256('no such blob')}&from=lib/src`, { method: 'POST' });
    assert.equal(unknown.status, 202);
  });

  test('unknown endpoints and methods get spec error bodies', async () => {
    const res = await fetch(`${reg.url}/v3/whatever`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'UNSUPPORTED');
    const method = await fetch(`${reg.url}/v2/lib/mono/tags/list`, { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal(await errorCode(method), 'UNSUPPORTED');
  });
});
