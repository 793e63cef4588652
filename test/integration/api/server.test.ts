/**
 * The Engine API server on a real unix socket: berthd itself (spawned by PID)
 * for negotiation, errors and body limits, and an in-process ApiServer with a
 * test route for hijacking.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { stat, access } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { ApiServer } from '../../../src/api/server.ts';
import { Router } from '../../../src/api/router.ts';
import { EngineClient } from '../../../src/client/client.ts';
import { API_VERSION } from '../../../src/common/config.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(socketPath: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('berthd Engine API server', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  test('socket is mode 0660 and a pid file is written under <root>/run', async () => {
    const st = await stat(d.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    const pid = (await import('node:fs/promises')).readFile(join(d.dataRoot, 'run/berthd.pid'), 'utf8');
    assert.equal(Number((await pid).trim()), d.pid);
  });

  test('HEAD /_ping answers with the headers docker reads', async () => {
    const a = await call(d.socketPath, 'HEAD', '/_ping');
    assert.equal(a.status, 200);
    assert.equal(a.headers['api-version'], API_VERSION);
    assert.equal(a.headers['docker-experimental'], 'false');
    assert.equal(a.headers['ostype'], 'linux');
    assert.equal(a.headers['cache-control'], 'no-cache, no-store, must-revalidate');
    assert.equal(a.headers['pragma'], 'no-cache');
    assert.equal(a.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(a.headers['content-length'], '0');
    const g = await call(d.socketPath, 'GET', '/_ping');
    assert.equal(g.body, 'OK');
  });

  test('headers go out sorted by name, as dockerd (Go) sends them (protocol-traces/docker-version.txt)', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(d.socketPath);
      let out = '';
      sock.on('data', (c) => {
        out += c.toString();
        if (out.includes('\r\n\r\n')) sock.end();
      });
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
      sock.write('HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n');
    });
    const names = raw.split('\r\n').slice(1).map((l) => l.split(':')[0]).filter((n) => n && n !== 'Date' && n !== 'Connection' && n !== 'Keep-Alive');
    assert.deepEqual(names, ['Api-Version', 'Builder-Version', 'Cache-Control', 'Content-Length', 'Content-Type', 'Docker-Experimental', 'Ostype', 'Pragma', 'Server']);
  });

  test('versioned and unversioned paths; out-of-range versions are 400 with a message', async () => {
    const v = await call(d.socketPath, 'GET', '/v1.41/version');
    assert.equal(v.status, 200);
    const body = JSON.parse(v.body);
    assert.equal(body.ApiVersion, API_VERSION);
    assert.equal(body.MinAPIVersion, '1.24');
    assert.equal(body.Components[0].Name, 'Engine');
    assert.equal((await call(d.socketPath, 'GET', '/version')).status, 200);
    const old = await call(d.socketPath, 'GET', '/v1.12/version');
    assert.equal(old.status, 400);
    assert.match(JSON.parse(old.body).message, /client version 1.12 is too old/);
    const neu = await call(d.socketPath, 'GET', '/v9.99/version');
    assert.equal(neu.status, 400);
    assert.match(JSON.parse(neu.body).message, /client version 9.99 is too new/);
  });

  test('the client negotiates down to the server version', async () => {
    const client = new EngineClient(d.socketPath, {});
    assert.equal(await client.apiVersion(), API_VERSION);
    const info = await client.json<{ DockerRootDir: string; OSType: string }>('GET', '/info');
    assert.equal(info.DockerRootDir, d.dataRoot);
    assert.equal(info.OSType, 'linux');
  });

  test('unknown route → 404 with a JSON message naming it', async () => {
    const a = await call(d.socketPath, 'GET', '/v1.41/nope/at/all');
    assert.equal(a.status, 404);
    assert.equal(a.headers['content-type'], 'application/json');
    assert.match(JSON.parse(a.body).message, /page not found: GET \/v1.41\/nope\/at\/all/);
  });

  test('malformed JSON body → 400 that says so, and the daemon keeps serving', async () => {
    const a = await call(d.socketPath, 'POST', '/v1.41/auth', '{"username": "a", ', { 'Content-Type': 'application/json' });
    assert.equal(a.status, 400);
    assert.match(JSON.parse(a.body).message, /invalid JSON in request body/);
    const arr = await call(d.socketPath, 'POST', '/v1.41/auth', '[1,2]', { 'Content-Type': 'application/json' });
    assert.equal(arr.status, 400);
    assert.match(JSON.parse(arr.body).message, /must be a JSON object/);
    assert.equal((await call(d.socketPath, 'GET', '/_ping')).status, 200);
  });

  test('huge JSON body → 400 without buffering it, daemon still alive', async () => {
    const huge = Buffer.alloc(64 * 1024 * 1024, 0x20);
    const a = await call(d.socketPath, 'POST', '/v1.41/auth', huge, { 'Content-Type': 'application/json' });
    assert.equal(a.status, 400);
    assert.match(JSON.parse(a.body).message, /request body too large/);
    // Chunked (no Content-Length) too.
    const chunked = await new Promise<Answer>((resolve, reject) => {
      const req = request({ socketPath: d.socketPath, method: 'POST', path: '/v1.41/auth', headers: { 'Content-Type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < 16) {
          sent++;
          if (!req.write(Buffer.alloc(1024 * 1024, 0x20))) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(chunked.status, 400);
    assert.match(JSON.parse(chunked.body).message, /request body too large/);
    assert.equal((await call(d.socketPath, 'GET', '/_ping')).status, 200);
  });

  test('malformed HTTP gets a 400 and does not take the daemon down', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(d.socketPath);
      let out = '';
      s.on('data', (c) => (out += c.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.end('THIS IS NOT HTTP\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1.1 400/);
    assert.equal((await call(d.socketPath, 'GET', '/_ping')).status, 200);
  });

  test('a second berthd on the same data root refuses to start and names the owner', async () => {
    const second = await startDaemon({ dataRoot: d.dataRoot, timeoutMs: 5000 }).then(
      async (x) => {
        await x.stop();
        return undefined;
      },
      (err: Error) => err,
    );
    assert.ok(second instanceof Error, 'second daemon must not start');
    assert.match(second.message, new RegExp(`another berthd \\(pid ${d.pid}\\) is already running`));
    // The first one still answers.
    assert.equal((await call(d.socketPath, 'GET', '/_ping')).status, 200);
  });
});

describe('kill -9', () => {
  test('a berthd killed with SIGKILL leaves a stale lock and socket; the next one takes both over', async () => {
    const first = await startDaemon();
    const keep = await makeTempDir('berthd-restart-');
    try {
      const socketPath = join(keep, 'same.sock');
      const again = await startDaemon({ dataRoot: first.dataRoot, socketPath }).catch((e: Error) => e);
      assert.ok(again instanceof Error, 'a second daemon on a live data root must not start');
      process.kill(first.pid, 'SIGKILL');
      await new Promise<void>((r) => first.process.once('exit', () => r()));
      // Lock and pid file are left behind by the killed daemon.
      await access(join(first.dataRoot, 'run/berthd.lock'));
      const second = await startDaemon({ dataRoot: first.dataRoot, socketPath: first.socketPath });
      try {
        assert.equal((await call(first.socketPath, 'GET', '/_ping')).body, 'OK');
        const pid = Number((await (await import('node:fs/promises')).readFile(join(first.dataRoot, 'run/berthd.pid'), 'utf8')).trim());
        assert.equal(pid, second.pid);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
      await removeTempDir(keep);
    }
  });
});

describe('SIGTERM', () => {
  test('berthd removes its socket, pid and lock files when stopped', async () => {
    const d = await startDaemon();
    const dir = await makeTempDir('berthd-keep-');
    try {
      const socket = d.socketPath;
      const runDir = join(d.dataRoot, 'run');
      process.kill(d.pid, 'SIGTERM');
      await new Promise<void>((r) => d.process.once('exit', () => r()));
      assert.equal(d.process.exitCode, 0);
      await assert.rejects(access(socket));
      await assert.rejects(access(join(runDir, 'berthd.pid')));
      await assert.rejects(access(join(runDir, 'berthd.lock')));
    } finally {
      await d.stop();
      await removeTempDir(dir);
    }
  });
});

describe('hijacking (Upgrade: tcp → 101)', () => {
  let dir: string;
  let server: ApiServer;
  before(async () => {
    dir = await makeTempDir('berth-hijack-');
    const router = new Router();
    router.head('/_ping', (ctx) => ctx.sendStatus(200));
    router.post('/plain', (ctx) => ctx.sendJson(200, { ok: true }));
    // An echo endpoint shaped like exec start: JSON body, then a raw stream.
    router.post('/echo/{id}/start', async (ctx) => {
      const body = await ctx.jsonObject<{ Detach: boolean }>();
      const socket = ctx.hijack();
      socket.write(`id=${ctx.params.id} detach=${body.Detach}\n`);
      socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
      socket.on('end', () => socket.end());
    });
    server = new ApiServer({ router });
    await server.listen(join(dir, 'api.sock'));
  });
  after(async () => {
    await server?.close();
    await removeTempDir(dir);
  });

  test('101 UPGRADED with the raw-stream headers, body consumed, then a duplex stream', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(join(dir, 'api.sock'));
      let out = '';
      s.on('data', (c) => {
        out += c.toString();
        if (out.includes('HELLO')) s.end();
      });
      s.on('close', () => resolve(out));
      s.on('error', reject);
      const body = '{"Detach":false,"Tty":false}\n';
      s.write(
        `POST /v1.41/echo/abc/start HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nUpgrade: tcp\r\n\r\n${body}hello`,
      );
    });
    assert.match(raw, /^HTTP\/1.1 101 UPGRADED\r\nContent-Type: application\/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: /);
    assert.match(raw, /\r\n\r\nid=abc detach=false\nHELLO$/);
  });

  test('an Upgrade request to a route that does not hijack gets an ordinary answer', async () => {
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(join(dir, 'api.sock'));
        let out = '';
        s.on('data', (c) => (out += c.toString()));
        s.on('close', () => resolve(out));
        s.on('error', reject);
        s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
      });
    const notFound = await raw('/v1.41/containers/nope/attach');
    assert.match(notFound, /^HTTP\/1.1 404 Not Found\r\n/);
    assert.match(notFound, /\{"message":"page not found: POST \/v1.41\/containers\/nope\/attach/);
    const plain = await raw('/v1.41/plain');
    assert.match(plain, /^HTTP\/1.1 200 OK\r\n[\s\S]*\r\n\r\n\{"ok":true\}\n$/);
  });

  test('the client hijack() gets the same stream', async () => {
    const client = new EngineClient(join(dir, 'api.sock'));
    const sock = await client.hijack('POST', '/echo/x1/start', { body: { Detach: true } });
    const text = await new Promise<string>((resolve) => {
      let out = '';
      sock.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('PING')) {
          sock.end();
          resolve(out);
        }
      });
      sock.write('ping');
    });
    assert.equal(text, 'id=x1 detach=true\nPING');
  });
});
