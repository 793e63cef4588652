import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startRegistry } from '../../../src/registry/server.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startTestRegistry, sha256, errorCode, type RegistryFixture } from './registry-fixture.ts';

async function startSession(url: string, name: string): Promise<string> {
  const res = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('range'), '0-0');
  const location = res.headers.get('location')!;
  assert.match(location, new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
  assert.equal(res.headers.get('docker-upload-uuid'), location.split('/').pop());
  return location;
}

function patch(url: string, location: string, chunk: Uint8Array, start?: number): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (start !== undefined) headers['Content-Range'] = `${start}-${start + chunk.length - 1}`;
  return fetch(`${url}${location}`, { method: 'PATCH', body: chunk, headers });
}

describe('registry chunked uploads', () => {
  let reg: RegistryFixture;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => {
    await reg?.close();
  });

  test('POST, PATCH chunks with Content-Range, status GET, PUT ?digest= commits the blob', async () => {
    const blob = randomBytes(3 * 65536 + 17);
    const digest = sha256(blob);
    let location = await startSession(reg.url, 'up/chunked');
    const chunks = [blob.subarray(0, 65536), blob.subarray(65536, 131072), blob.subarray(131072)];
    let offset = 0;
    for (const chunk of chunks) {
      const res = await patch(reg.url, location, chunk, offset);
      assert.equal(res.status, 202);
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      location = res.headers.get('location')!;
      const status = await fetch(`${reg.url}${location}`);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${offset - 1}`);
    }
    const put = await fetch(`${reg.url}${location}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('location'), `/v2/up/chunked/blobs/${digest}`);
    assert.equal(put.headers.get('docker-content-digest'), digest);
    const get = await fetch(`${reg.url}/v2/up/chunked/blobs/${digest}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
    // The session is over.
    const after = await fetch(`${reg.url}${location}`);
    assert.equal(after.status, 404);
    assert.equal(await errorCode(after), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('streamed PATCH without Content-Range, and the last chunk carried by the PUT', async () => {
    const blob = randomBytes(200_000);
    const digest = sha256(blob);
    const location = await startSession(reg.url, 'up/streamed');
    const res = await patch(reg.url, location, blob.subarray(0, 150_000));
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-149999');
    const put = await fetch(`${reg.url}${location}?digest=${digest}`, {
      method: 'PUT',
      body: blob.subarray(150_000),
      headers: { 'Content-Range': '150000-199999', 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 201);
    const head = await fetch(`${reg.url}/v2/up/streamed/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '200000');
  });

  test('an out-of-order chunk is 416 with the Range to resume from, and changes nothing', async () => {
    const location = await startSession(reg.url, 'up/order');
    assert.equal((await patch(reg.url, location, Buffer.from('0123456789'), 0)).status, 202);
    const gap = await patch(reg.url, location, Buffer.from('abcdef'), 20);
    assert.equal(gap.status, 416);
    assert.equal(gap.headers.get('range'), '0-9');
    assert.equal(gap.headers.get('location'), location);
    assert.equal(await errorCode(gap), 'BLOB_UPLOAD_INVALID');
    const overlap = await patch(reg.url, location, Buffer.from('abcdef'), 5);
    assert.equal(overlap.status, 416);
    await overlap.arrayBuffer();
    const status = await fetch(`${reg.url}${location}`);
    assert.equal(status.headers.get('range'), '0-9');
    assert.equal((await patch(reg.url, location, Buffer.from('abcdef'), 10)).status, 202);
    const put = await fetch(`${reg.url}${location}?digest=${sha256('0123456789abcdef')}`, { method: 'PUT' });
    assert.equal(put.status, 201);
  });

  test('closing PUT with the wrong digest is 400 DIGEST_INVALID, commits nothing and ends the session', async () => {
    const bytes = Buffer.from('payload whose digest the client gets wrong');
    const location = await startSession(reg.url, 'up/wrong');
    assert.equal((await patch(reg.url, location, bytes, 0)).status, 202);
    const wrong = sha256('other');
    const put = await fetch(`${reg.url}${location}?digest=${wrong}`, { method: 'PUT' });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
    for (const d of [wrong, sha256(bytes)]) {
      assert.equal((await fetch(`${reg.url}/v2/up/wrong/blobs/${d}`, { method: 'HEAD' })).status, 404);
    }
    const blobs = await readdir(join(reg.root, 'content/blobs/sha256'));
    assert.ok(!blobs.includes(sha256(bytes).slice(7)));
    assert.equal((await fetch(`${reg.url}${location}`)).status, 404);
  });

  test('closing PUT without ?digest= is 400 DIGEST_INVALID and keeps the session', async () => {
    const location = await startSession(reg.url, 'up/nodigest');
    assert.equal((await patch(reg.url, location, Buffer.from('abc'), 0)).status, 202);
    const put = await fetch(`${reg.url}${location}`, { method: 'PUT' });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
    const status = await fetch(`${reg.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-2');
  });

  test('DELETE cancels a session (204); the session is then unknown', async () => {
    const location = await startSession(reg.url, 'up/cancel');
    assert.equal((await patch(reg.url, location, Buffer.from('partial'), 0)).status, 202);
    const del = await fetch(`${reg.url}${location}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await fetch(`${reg.url}${location}`, { method, body: method === 'PATCH' ? 'x' : undefined });
      assert.equal(res.status, 404, method);
      assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN', method);
    }
  });

  test('unknown or malformed upload ids, and a session used from another repository, are BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startSession(reg.url, 'up/mine');
    const uuid = location.split('/').pop();
    for (const path of [`/v2/up/mine/blobs/uploads/00000000-0000-0000-0000-000000000000`, `/v2/up/mine/blobs/uploads/not-a-uuid`, `/v2/up/theirs/blobs/uploads/${uuid}`]) {
      const res = await fetch(`${reg.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN', path);
    }
  });

  test('a client that drops mid-PATCH can ask where the upload stands and resume from there', async () => {
    const blob = randomBytes(3 << 20);
    const location = await startSession(reg.url, 'up/dropped');
    const { hostname, port } = new URL(reg.url);
    const sent = 2 << 20;
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${blob.length}\r\n\r\n`);
    await new Promise<void>((resolve) => socket.write(blob.subarray(0, sent), () => resolve()));
    socket.destroy();

    // The registry keeps every byte that arrived; wait until it has noticed the drop.
    let range = '';
    for (let i = 0; i < 600; i++) {
      const status = await fetch(`${reg.url}${location}`);
      range = status.headers.get('range') ?? '';
      if (range === `0-${sent - 1}`) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(range, `0-${sent - 1}`);
    assert.equal((await patch(reg.url, location, blob.subarray(sent), sent)).status, 202);
    const put = await fetch(`${reg.url}${location}?digest=${sha256(blob)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    const get = await fetch(`${reg.url}/v2/up/dropped/blobs/${sha256(blob)}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
  });

  test('concurrent uploads of the same blob in two sessions both succeed and store one blob', async () => {
    const blob = randomBytes(1 << 20);
    const digest = sha256(blob);
    const results = await Promise.all(
      [0, 1].map(async () => {
        const location = await startSession(reg.url, 'up/race');
        assert.equal((await patch(reg.url, location, blob, 0)).status, 202);
        return (await fetch(`${reg.url}${location}?digest=${digest}`, { method: 'PUT' })).status;
      }),
    );
    assert.deepEqual(results, [201, 201]);
    const get = await fetch(`${reg.url}/v2/up/race/blobs/${digest}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
  });

  test('Content-Length that disagrees with Content-Range is 400 SIZE_INVALID', async () => {
    const location = await startSession(reg.url, 'up/size');
    const res = await fetch(`${reg.url}${location}`, { method: 'PATCH', body: Buffer.from('12345'), headers: { 'Content-Range': '0-9' } });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'SIZE_INVALID');
  });
});

test('an upload resumes after the registry restarts on the same root', async () => {
  const dir = await makeTempDir('berth-registry-resume-');
  const root = join(dir, 'root');
  let server = await startRegistry({ addr: '127.0.0.1:0', root });
  try {
    const blob = randomBytes(500_000);
    const location = await startSession(server.url, 'up/resume');
    assert.equal((await patch(server.url, location, blob.subarray(0, 300_000), 0)).status, 202);
    await server.close();

    server = await startRegistry({ addr: '127.0.0.1:0', root });
    const status = await fetch(`${server.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-299999');
    assert.equal((await patch(server.url, location, blob.subarray(300_000), 300_000)).status, 202);
    const put = await fetch(`${server.url}${location}?digest=${sha256(blob)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    const get = await fetch(`${server.url}/v2/up/resume/blobs/${sha256(blob)}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
  } finally {
    await server.close();
    await removeTempDir(dir);
  }
});

test('open upload writers are bounded: idle sessions are closed and resume; when all are busy a new one gets 429', async () => {
  const dir = await makeTempDir('berth-registry-bound-');
  const server = await startRegistry({ addr: '127.0.0.1:0', root: join(dir, 'root'), maxOpenUploads: 2 });
  const sockets: ReturnType<typeof connect>[] = [];
  try {
    const blobs = [0, 1, 2].map((i) => Buffer.from(`blob number ${i} `.repeat(1000)));
    const locations: string[] = [];
    for (const b of blobs) {
      const loc = await startSession(server.url, 'up/bound');
      assert.equal((await patch(server.url, loc, b.subarray(0, 5000), 0)).status, 202);
      locations.push(loc);
    }
    // Hold two PATCHes open mid-body, so both open writers are busy.
    const { hostname, port } = new URL(server.url);
    for (const i of [0, 1]) {
      const socket = connect(Number(port), hostname);
      sockets.push(socket);
      await once(socket, 'connect');
      const rest = blobs[i]!.subarray(5000);
      socket.write(`PATCH ${locations[i]} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Range: 5000-${blobs[i]!.length - 1}\r\nContent-Length: ${rest.length}\r\n\r\n`);
      socket.write(rest.subarray(0, 100));
    }
    // Wait until both held requests have their writers open (a request is busy before its writer is,
    // and while one is still opening, the third session's old writer may not be evicted yet).
    const held = [0, 1].map((i) => locations[i]!.split('/').pop()!.split('?')[0]!);
    const underWay = () => {
      const st = server.registry.uploads.stats();
      return st.busy === 2 && st.open === 2 && held.every((uuid) => server.registry.uploads.hasOpenWriter(uuid));
    };
    // Generous bound: the machine may be busy; this waits for a state, not for a time.
    for (let i = 0; i < 3000 && !underWay(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(server.registry.uploads.stats(), { open: 2, busy: 2 });
    const busy = await patch(server.url, locations[2]!, blobs[2]!.subarray(5000), 5000);
    assert.equal(busy.status, 429);
    assert.equal(await errorCode(busy), 'TOO_MANY_REQUESTS');

    // Let the held requests finish; then every session completes, the evicted ones by resuming.
    for (const [i, socket] of sockets.entries()) {
      const answer = once(socket, 'data');
      socket.write(blobs[i]!.subarray(5100));
      const [data] = (await answer) as [Buffer];
      assert.match(data.toString(), /^HTTP\/1\.1 202/);
    }
    assert.equal((await patch(server.url, locations[2]!, blobs[2]!.subarray(5000), 5000)).status, 202);
    for (const [i, loc] of locations.entries()) {
      const put = await fetch(`${server.url}${loc}?digest=${sha256(blobs[i]!)}`, { method: 'PUT' });
      assert.equal(put.status, 201, `session ${i}`);
    }
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
    await removeTempDir(dir);
  }
});
