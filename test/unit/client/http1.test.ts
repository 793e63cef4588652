/**
 * The CLI's HTTP/1.1 client over a unix socket: keep-alive reuse (one
 * connection for requests in a row, never one whose answer said close or was
 * read to the end of the connection, never one the server closed), bodies by
 * Content-Length and chunked with trailers, and preconnect.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http1Request, preconnect } from '../../../src/client/http1.ts';
import { readAll } from '../../../src/client/client.ts';

/** A server answering each request by path; it counts connections. */
function server(socketPath: string): { server: Server; connections: () => number; sockets: Socket[] } {
  const sockets: Socket[] = [];
  const srv = createServer((sock) => {
    sockets.push(sock);
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = head.split(' ')[1];
        if (path === '/length') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        else if (path === '/chunked') sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n');
        else if (path === '/close') sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
        else if (path === '/until-close') sock.end('HTTP/1.1 200 OK\r\n\r\nall of it');
        else if (path === '/empty') sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      }
    });
  });
  srv.listen(socketPath);
  return { server: srv, connections: () => sockets.length, sockets };
}

describe('http1 client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-http1-'));
  const socketPath = join(dir, 's.sock');
  let s: ReturnType<typeof server>;
  before(() => {
    s = server(socketPath);
  });
  after(() => {
    for (const sock of s.sockets) sock.destroy();
    s.server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = async (path: string) => {
    const res = await http1Request({ socketPath, method: path === '/empty' ? 'POST' : 'GET', path, headers: { Host: 'x' } });
    return { status: res.statusCode, body: (await readAll(res)).toString() };
  };

  test('requests in a row share one connection; bodies by length, chunked with a trailer, and none', async () => {
    const before = s.connections();
    assert.deepEqual(await get('/length'), { status: 200, body: 'hello' });
    assert.deepEqual(await get('/chunked'), { status: 200, body: 'abcde' });
    assert.deepEqual(await get('/empty'), { status: 204, body: '' });
    assert.deepEqual(await get('/length'), { status: 200, body: 'hello' });
    assert.equal(s.connections() - before, 1);
  });

  test('an answer with Connection: close, or read until the connection ends, is not reused', async () => {
    const before = s.connections();
    assert.deepEqual(await get('/close'), { status: 200, body: 'ok' });
    assert.deepEqual(await get('/until-close'), { status: 200, body: 'all of it' });
    assert.deepEqual(await get('/length'), { status: 200, body: 'hello' });
    // /close went out on the connection left idle by the test before; each one after needed a new one.
    assert.equal(s.connections() - before, 2);
  });

  test('an idle connection the server closed is not reused', async () => {
    assert.deepEqual(await get('/length'), { status: 200, body: 'hello' });
    const before = s.connections();
    for (const sock of s.sockets) sock.end();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await get('/length'), { status: 200, body: 'hello' });
    assert.equal(s.connections() - before, 1);
  });

  test('preconnect: the next requests made together use the connections opened ahead', async () => {
    preconnect(socketPath, 2);
    await new Promise((r) => setTimeout(r, 50));
    const before = s.connections();
    const both = await Promise.all([get('/length'), get('/chunked')]);
    assert.deepEqual(both.map((b) => b.body), ['hello', 'abcde']);
    assert.equal(s.connections(), before);
  });
});
