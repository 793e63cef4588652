import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LocalContentStore } from '../../../src/content/local.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { contentStoreConformance, sha256 } from './conformance.ts';
import { patternBytes, PATTERN_CHUNK_SIZE } from './fixtures/pattern.ts';

contentStoreConformance('LocalContentStore', (dir) => LocalContentStore.open(dir));

const CHILD = new URL('./fixtures/crash-writer.ts', import.meta.url).pathname;

/** Start the crash writer and resolve once it has reported `lines` progress lines; returns the last line. */
function startWriter(args: string[], lines: number): { child: ChildProcess; ready: Promise<string> } {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<string>((resolve, reject) => {
    let seen = 0;
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (++seen === lines) resolve(line);
    });
    child.on('exit', (code, signal) => reject(new Error(`writer exited early (${code ?? signal}) after ${seen} lines`)));
  });
  return { child, ready };
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

describe('LocalContentStore on disk', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  before(async () => {
    dir = await makeTempDir('berth-content-local-');
  });
  after(async () => {
    for (const c of children) await killHard(c);
    await removeTempDir(dir);
  });

  test('lays out an OCI image layout: oci-layout, index.json, blobs/sha256/<hex>', async () => {
    const root = join(dir, 'layout');
    const store = await LocalContentStore.open(root);
    assert.deepEqual(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8'));
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(index.manifests, []);
    const { digest } = await store.writeBytes(Buffer.from('layout'));
    assert.equal(store.blobPath(digest), join(root, 'blobs/sha256', digest.slice(7)));
    assert.equal(await readFile(join(root, 'blobs/sha256', digest.slice(7)), 'utf8'), 'layout');
    assert.deepEqual(await readdir(join(root, 'ingest')), [], 'no leftovers in ingest after a write');
  });

  test('blobPath never leaves the store for a hostile digest', async () => {
    const store = await LocalContentStore.open(join(dir, 'hostile'));
    assert.throws(() => store.blobPath('sha256:../../../../etc/passwd' as never), { code: 'BERTH_CONTENT_INVALID_DIGEST' });
    assert.throws(() => store.read('sha256:/etc/passwd' as never), { code: 'BERTH_CONTENT_INVALID_DIGEST' });
  });

  test('kill -9 during write(): nothing partial is served, reopen cleans up, the blob can be written again', async () => {
    const root = join(dir, 'crash-write');
    await LocalContentStore.open(root);
    const whole = patternBytes();
    const digest = sha256(whole);
    const w = startWriter([root, 'write'], 25);
    children.push(w.child);
    await w.ready;
    const store = await LocalContentStore.open(join(root)); // a reader while the writer runs
    assert.equal(await store.has(digest), false);
    await killHard(w.child);

    const blobs: unknown[] = [];
    for await (const b of store.list()) blobs.push(b);
    assert.deepEqual(blobs, [], 'a killed writer leaves no blob');
    const leftovers = await readdir(join(root, 'ingest'));
    assert.equal(leftovers.length, 1, 'the partial file stays in ingest/');
    assert.ok((await stat(join(root, 'ingest', leftovers[0]!))).size > 0);

    const reopened = await LocalContentStore.open(root);
    assert.deepEqual(await readdir(join(root, 'ingest')), [], 'reopening removes temp files of dead writers');
    assert.deepEqual(await reopened.writeBytes(whole, { digest, size: whole.length }), { digest, size: whole.length });
    assert.ok(whole.equals(await reopened.readBytes(digest)));
  });

  test('kill -9 during an ingest: the partial data is kept and resumes to a verified blob', async () => {
    const root = join(dir, 'crash-ingest');
    await LocalContentStore.open(root);
    const whole = patternBytes();
    const digest = sha256(whole);
    const w = startWriter([root, 'ingest', 'upload-x'], 30);
    children.push(w.child);
    const line = await w.ready;
    const reported = Number(line.split(' ')[1]);
    assert.ok(reported >= 30 * PATTERN_CHUNK_SIZE);

    const store = await LocalContentStore.open(root);
    // While the writer lives, its lock file keeps other processes out.
    await assert.rejects(store.ingest('upload-x'), { code: 'BERTH_CONTENT_INGEST_LOCKED' });
    await killHard(w.child);

    assert.equal(await store.has(digest), false);
    const offset = await store.ingestOffset('upload-x');
    assert.ok(offset !== undefined && offset >= reported, `offset ${offset} covers the acknowledged ${reported} bytes`);
    assert.deepEqual(await store.listIngests(), ['upload-x']);

    const writer = await store.ingest('upload-x'); // the dead writer's lock is stale and taken over
    assert.equal(writer.offset, offset);
    await writer.write(whole.subarray(writer.offset));
    assert.deepEqual(await writer.commit({ digest, size: whole.length }), { digest, size: whole.length });
    assert.ok(whole.equals(await store.readBytes(digest)));
    assert.deepEqual(await store.listIngests(), []);
  });

  test('writers in several processes storing the same blob at once leave one intact copy', async () => {
    const root = join(dir, 'multi-process');
    await LocalContentStore.open(root);
    const whole = patternBytes();
    const digest = sha256(whole);
    const runs = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, root, 'write-fast'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      return new Promise<string>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`writer exited ${code}`)))));
    });
    const outputs = await Promise.all(runs);
    for (const o of outputs) assert.equal(o.split('\n')[0], `${digest} ${whole.length}`);
    const store = await LocalContentStore.open(root);
    const blobs: unknown[] = [];
    for await (const b of store.list()) blobs.push(b);
    assert.deepEqual(blobs, [{ digest, size: whole.length }]);
    assert.deepEqual(await store.verify(), []);
    assert.deepEqual(await readdir(join(root, 'ingest')), []);
  });

  test('kill -9 at many different moments never leaves a wrong or partial blob', async () => {
    const root = join(dir, 'many-kills');
    await LocalContentStore.open(root);
    const digest = sha256(patternBytes());
    // Slow writers killed after 1..N chunks, then fast writers killed after a short, varying delay
    // (which may land in the fsync/rename at the end).
    for (const lines of [1, 3, 17, 60]) {
      const w = startWriter([root, 'write'], lines);
      children.push(w.child);
      await w.ready;
      await killHard(w.child);
    }
    for (const delayMs of [0, 20, 60, 120, 250]) {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, root, 'write-fast'], { stdio: 'ignore' });
      children.push(child);
      await new Promise((r) => setTimeout(r, delayMs));
      await killHard(child);
    }
    const store = await LocalContentStore.open(root);
    assert.deepEqual(await store.verify(), [], 'every committed blob hashes to its name');
    for await (const b of store.list()) assert.deepEqual(b, { digest, size: PATTERN_CHUNK_SIZE * 400 }, 'the only blob that can exist is the complete one');
    assert.deepEqual(await readdir(join(root, 'ingest')), [], 'temp files of the dead writers are gone after reopening');
  });

  test('pruneIngests drops abandoned partial ingests and keeps recent or held ones', async () => {
    const store = await LocalContentStore.open(join(dir, 'prune-ingests'));
    const { utimes } = await import('node:fs/promises');
    const { createHash } = await import('node:crypto');
    const dataOf = (ref: string) => join(store.ingestRoot, createHash('sha256').update(ref).digest('hex'), 'data');
    for (const ref of ['old', 'recent', 'held']) {
      const w = await store.ingest(ref);
      await w.write(Buffer.from(ref));
      await w.close();
    }
    const past = new Date(Date.now() - 48 * 3600_000);
    await utimes(dataOf('old'), past, past);
    await utimes(dataOf('held'), past, past);
    const held = await store.ingest('held');
    assert.deepEqual(await store.pruneIngests(24 * 3600_000), ['old']);
    assert.deepEqual((await store.listIngests()).sort(), ['held', 'recent']);
    await held.close();
    assert.deepEqual((await store.pruneIngests(0)).sort(), ['held', 'recent']);
    assert.deepEqual(await store.listIngests(), []);
  });

  test('verify() reports a blob whose bytes changed on disk', async () => {
    const store = await LocalContentStore.open(join(dir, 'verify'));
    const { digest } = await store.writeBytes(Buffer.from('original'));
    const { writeFile, chmod } = await import('node:fs/promises');
    await chmod(store.blobPath(digest), 0o644);
    await writeFile(store.blobPath(digest), 'tampered');
    assert.deepEqual(await store.verify(), [{ digest, size: 8, actual: sha256('tampered') }]);
  });

  test('a partial ingest whose bytes were corrupted cannot be committed under the expected digest', async () => {
    const store = await LocalContentStore.open(join(dir, 'corrupt'));
    const w = await store.ingest('c');
    await w.write(Buffer.from('good-bytes'));
    await w.close();
    // Simulate a torn disk: different bytes in the partial file.
    const { writeFile } = await import('node:fs/promises');
    const { createHash } = await import('node:crypto');
    await writeFile(join(store.ingestRoot, createHash('sha256').update('c').digest('hex'), 'data'), 'evil-bytes');
    const w2 = await store.ingest('c');
    await assert.rejects(w2.commit({ digest: sha256('good-bytes') }), { code: 'BERTH_CONTENT_DIGEST_MISMATCH' });
    assert.equal(await store.has(sha256('evil-bytes')), false);
  });
});
