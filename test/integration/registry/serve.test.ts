import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

const MAIN = new URL('../../../src/registry/main.ts', import.meta.url).pathname;

function serve(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function collect(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c));
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
}

/** Start `serve` and resolve with its URL once it says it is listening. */
function listening(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${out}`)));
  });
}

test('registry serve listens, answers /v2/, and exits 0 on SIGTERM', async () => {
  const dir = await makeTempDir('berth-registry-serve-');
  const child = serve(['serve', '--addr', '127.0.0.1:0', '--root', join(dir, 'root')]);
  try {
    const url = await listening(child);
    const res = await fetch(`${url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.ok((await stat(join(dir, 'root', 'content', 'oci-layout'))).isFile());
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  } finally {
    stop(child);
    await removeTempDir(dir);
  }
});

test('after kill -9 mid-upload, a restarted registry takes over the root and the upload resumes', async () => {
  const dir = await makeTempDir('berth-registry-kill-');
  const root = join(dir, 'root');
  let child = serve(['serve', '--addr', '127.0.0.1:0', '--root', root]);
  try {
    let url = await listening(child);
    const blob = Buffer.alloc(3 << 20, 7);
    blob.write('kill -9 test');
    const post = await fetch(`${url}/v2/crash/test/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location')!;
    const first = await fetch(`${url}${location}`, { method: 'PATCH', body: blob.subarray(0, 2 << 20), headers: { 'Content-Range': `0-${(2 << 20) - 1}` } });
    assert.equal(first.status, 202);

    const killed = once(child, 'exit');
    process.kill(child.pid!, 'SIGKILL');
    await killed;

    child = serve(['serve', '--addr', '127.0.0.1:0', '--root', root]);
    url = await listening(child);
    const status = await fetch(`${url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${(2 << 20) - 1}`);
    const rest = await fetch(`${url}${location}`, { method: 'PATCH', body: blob.subarray(2 << 20), headers: { 'Content-Range': `${2 << 20}-${blob.length - 1}` } });
    assert.equal(rest.status, 202);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    assert.equal((await fetch(`${url}${location}?digest=${digest}`, { method: 'PUT' })).status, 201);
    const get = await fetch(`${url}/v2/crash/test/blobs/${digest}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
  } finally {
    stop(child);
    await removeTempDir(dir);
  }
});

test('registry serve without --root exits 2 with usage', async () => {
  const child = serve(['serve', '--addr', '127.0.0.1:0']);
  try {
    const { code, stderr } = await collect(child);
    assert.equal(code, 2);
    assert.match(stderr, /--root DIR is required/);
    assert.match(stderr, /Usage: berth registry serve/);
  } finally {
    stop(child);
  }
});

test('registry serve with a root that is a file exits 1 naming the root', async () => {
  const dir = await makeTempDir('berth-registry-serve-');
  const file = join(dir, 'not-a-dir');
  await writeFile(file, 'x');
  const child = serve(['serve', '--addr', '127.0.0.1:0', '--root', file]);
  try {
    const { code, stderr } = await collect(child);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`registry root ${file} is not a usable directory`));
    assert.equal(await readFile(file, 'utf8'), 'x');
  } finally {
    stop(child);
    await removeTempDir(dir);
  }
});

test('registry serve on a port in use exits 1 naming the address', async () => {
  const dir = await makeTempDir('berth-registry-serve-');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const child = serve(['serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'root')]);
  try {
    const { code, stderr } = await collect(child);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    stop(child);
    blocker.close();
    await removeTempDir(dir);
  }
});

test('registry gc runs on a root and reports; it refuses a root a server holds', async () => {
  const dir = await makeTempDir('berth-registry-gc-cli-');
  const root = join(dir, 'root');
  const server = serve(['serve', '--addr', '127.0.0.1:0', '--root', root]);
  try {
    await listening(server);
    const busy = await collect(serve(['gc', '--root', root]));
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /registry root .* is in use by process \d+/);

    const exited = once(server, 'exit');
    process.kill(server.pid!, 'SIGTERM');
    await exited;
    const dry = await collect(serve(['gc', '--root', root, '--dry-run']));
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^0 blobs to delete \(0\.0 MiB\), 0 kept$/m);
  } finally {
    stop(server);
    await removeTempDir(dir);
  }
});
