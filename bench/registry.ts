/**
 * Registry server benchmark: berth's registry vs Debian's docker-registry
 * (distribution 2.8) side by side on loopback, same client, same machine.
 *
 *   blob upload   POST + one streamed PATCH + PUT ?digest=   (docker push's way)
 *   chunked       POST + PATCH chunks with Content-Range + PUT
 *   blob download GET of the whole blob, bytes discarded
 * (blob bytes move with curl, so the client is C on both sides of the table)
 *   manifest GETs/s   wrk on GET /v2/<name>/manifests/<tag>, keep-alive
 *
 * Usage: node bench/registry.ts [--size-mib 256] [--runs 3] [--chunk-mib 16] [--wrk-seconds 5] [--only berth|docker-registry]
 * Each server runs in its own process (started and stopped by PID), data in a
 * temp dir removed at the end; the two are measured alternately, run by run.
 * Bounded loops; stops by itself.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NODE = process.execPath;
const REGISTRY_MAIN = new URL('../src/registry/main.ts', import.meta.url).pathname;

interface Options {
  sizeMiB: number;
  runs: number;
  chunkMiB: number;
  wrkSeconds: number;
  only?: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { sizeMiB: 256, runs: 3, chunkMiB: 16, wrkSeconds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--size-mib': o.sizeMiB = Number(v); i++; break;
      case '--runs': o.runs = Number(v); i++; break;
      case '--chunk-mib': o.chunkMiB = Number(v); i++; break;
      case '--wrk-seconds': o.wrkSeconds = Number(v); i++; break;
      case '--only': o.only = v; i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

// ---- servers ------------------------------------------------------------------

interface Server {
  name: string;
  url: string;
  child: ChildProcess;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForV2(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer /v2/ within 15 s`);
}

async function startBerth(dir: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', REGISTRY_MAIN, 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'berth')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForV2(url, child, 'berth registry');
  return { name: 'berth', url, child };
}

async function startDockerRegistry(dir: string): Promise<Server> {
  const port = await freePort();
  const config = join(dir, 'docker-registry.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'docker-registry')}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitForV2(url, child, 'docker-registry');
  return { name: 'docker-registry', url, child };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null || !s.child.pid) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  process.kill(s.child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (s.child.pid && s.child.exitCode === null && s.child.signalCode === null) process.kill(s.child.pid, 'SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(timer);
}

// ---- client -------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
}

function call(url: string, method: string, path: string, body?: Buffer, headers: Record<string, string | number> = {}): Promise<Reply> {
  const u = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent, headers: { ...headers, ...(body ? { 'Content-Length': body.length } : { 'Content-Length': 0 }) } },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body) {
      // Write in 1 MiB pieces, as a streaming client would.
      for (let off = 0; off < body.length; off += 1 << 20) req.write(body.subarray(off, Math.min(off + (1 << 20), body.length)));
    }
    req.end();
  });
}

function expect(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}`);
  return reply;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/**
 * Blob bytes go through curl, not a Node client: a C client on the same
 * cores keeps the client from being the bottleneck for either server.
 */
async function curl(args: string[]): Promise<{ status: number; headers: Map<string, string> }> {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', ...args], { maxBuffer: 1 << 20 });
  // With -D - the last header block is the final response (after any 100 Continue).
  const blocks = stdout.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '');
  const lines = blocks[blocks.length - 1]!.split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(lines[0]!)?.[1]);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status, headers };
}

function absolute(url: string, location: string | undefined, what: string): string {
  if (!location) throw new Error(`${what}: no Location header`);
  return new URL(location, url).toString();
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

/** Returns how long the closing PUT took (verify + durable commit), in seconds. */
async function uploadStreamed(url: string, name: string, file: string, digest: string): Promise<number> {
  const post = await curl(['-X', 'POST', '-H', 'Content-Length: 0', `${url}/v2/${name}/blobs/uploads/`]);
  if (post.status !== 202) throw new Error(`POST upload: ${post.status}`);
  const patch = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:', '-T', file, absolute(url, post.headers.get('location'), 'POST')]);
  if (patch.status !== 202) throw new Error(`PATCH: ${patch.status}`);
  const t0 = process.hrtime.bigint();
  const put = await curl(['-X', 'PUT', '-H', 'Content-Length: 0', withDigest(absolute(url, patch.headers.get('location'), 'PATCH'), digest)]);
  if (put.status !== 201) throw new Error(`PUT ?digest=: ${put.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function uploadChunked(url: string, name: string, chunks: { file: string; start: number; end: number }[], digest: string): Promise<void> {
  const post = await curl(['-X', 'POST', '-H', 'Content-Length: 0', `${url}/v2/${name}/blobs/uploads/`]);
  if (post.status !== 202) throw new Error(`POST upload: ${post.status}`);
  let loc = absolute(url, post.headers.get('location'), 'POST');
  for (const c of chunks) {
    const r = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:', '-H', `Content-Range: ${c.start}-${c.end}`, '-T', c.file, loc]);
    if (r.status !== 202) throw new Error(`PATCH chunk ${c.start}-${c.end}: ${r.status}`);
    loc = absolute(url, r.headers.get('location'), 'PATCH');
  }
  const put = await curl(['-X', 'PUT', '-H', 'Content-Length: 0', withDigest(loc, digest)]);
  if (put.status !== 201) throw new Error(`PUT ?digest=: ${put.status}`);
}

/** POST, one PATCH, PUT — the flow every registry supports (distribution 2.8 has no monolithic POST). */
async function uploadSmall(url: string, name: string, bytes: Buffer): Promise<void> {
  const post = expect(await call(url, 'POST', `/v2/${name}/blobs/uploads/`), 202, 'POST upload');
  const patch = expect(await call(url, 'PATCH', absolute(url, post.headers.location as string, 'POST'), bytes), 202, 'PATCH');
  expect(await call(url, 'PUT', withDigest(absolute(url, patch.headers.location as string, 'PATCH'), sha256(bytes))), 201, 'PUT');
}

async function download(url: string, name: string, digest: string, size: number): Promise<void> {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${url}/v2/${name}/blobs/${digest}`]);
  const [status, bytes] = stdout.split(' ').map(Number);
  if (status !== 200 || bytes !== size) throw new Error(`GET blob: status ${status}, ${bytes} of ${size} bytes`);
}

interface Timing {
  /** Wall-clock seconds. */
  wall: number;
  /** CPU seconds the server process spent (user + system), from /proc. */
  serverCpu: number;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const CLOCK_TICKS = 100;

async function timed(server: Server, fn: () => Promise<void>): Promise<Timing> {
  const pid = server.child.pid!;
  const cpu0 = await processCpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return { wall, serverCpu: (await processCpuSeconds(pid)) - cpu0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface BlobFile {
  file: string;
  digest: string;
  chunks: { file: string; start: number; end: number }[];
}

/**
 * Blob files for one run (first 8 bytes differ per run and server, so no
 * upload is answered from "already exists"), plus the same bytes cut into
 * chunk files for the chunked upload. Written before the clock starts.
 */
async function makeBlobFile(dir: string, base: Buffer, runIndex: number, tag: number, chunkBytes: number): Promise<BlobFile> {
  const b = Buffer.from(base);
  b.writeUInt32BE(runIndex, 0);
  b.writeUInt32BE(tag, 4);
  const file = join(dir, `blob-${tag}-${runIndex}`);
  await writeFile(file, b);
  const chunks: BlobFile['chunks'] = [];
  for (let off = 0, i = 0; off < b.length; off += chunkBytes, i++) {
    const end = Math.min(off + chunkBytes, b.length);
    const chunkFile = `${file}.${i}`;
    await writeFile(chunkFile, b.subarray(off, end));
    chunks.push({ file: chunkFile, start: off, end: end - 1 });
  }
  // Flush our own dirty pages now, so their writeback does not land inside a timed upload.
  await run('sync', []);
  return { file, digest: sha256(b), chunks };
}

async function removeBlobFile(f: BlobFile): Promise<void> {
  for (const p of [f.file, ...f.chunks.map((c) => c.file)]) await rm(p, { force: true });
}

async function wrk(url: string, seconds: number, accept: string): Promise<number> {
  const { stdout } = await run('wrk', ['-t', '2', '-c', '16', '-d', `${seconds}s`, '-H', `Accept: ${accept}`, url], { maxBuffer: 1 << 20 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (errors) throw new Error(`wrk against ${url}: ${errors[1]} non-2xx responses`);
  if (!m) throw new Error(`could not read wrk output: ${stdout}`);
  return Number(m[1]);
}

// ---- the benchmark --------------------------------------------------------------

interface Figures {
  uploadMBs: number;
  closingPutSeconds: number;
  chunkedMBs: number;
  downloadMBs: number;
  /** Server CPU seconds per GB moved (median run); less sensitive to a busy machine than MB/s. */
  uploadCpuPerGB: number;
  chunkedCpuPerGB: number;
  downloadCpuPerGB: number;
  manifestTagRps: number;
  manifestDigestRps: number;
}

/** A small image (config + one layer + manifest tagged v1) for the manifest GET figures. */
async function pushSmallImage(server: Server): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = randomBytes(4096);
  for (const b of [config, layer]) await uploadSmall(server.url, 'bench/img', b);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  expect(await call(server.url, 'PUT', '/v2/bench/img/manifests/v1', manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }), 201, 'PUT manifest');
  return sha256(manifest);
}

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';

interface Samples {
  up: Timing[];
  /** Seconds of each streamed upload spent in the closing PUT. */
  closingPut: number[];
  chunked: Timing[];
  down: Timing[];
  byTag: number[];
  byDigest: number[];
  lastDigest: string;
  manifestDigest: string;
}

/**
 * Both servers run side by side and every measurement alternates between
 * them, run by run, so a busy machine (other work on the same 2 cores)
 * weighs on both columns alike rather than on whichever went second.
 */
async function measureAll(servers: Server[], base: Buffer, o: Options, dir: string): Promise<Map<string, Figures>> {
  const name = 'bench/blob';
  const mb = base.length / 1e6;
  const samples = servers.map((): Samples => ({ up: [], closingPut: [], chunked: [], down: [], byTag: [], byDigest: [], lastDigest: '', manifestDigest: '' }));
  for (let i = 0; i < o.runs; i++) {
    for (const [k, server] of servers.entries()) {
      process.stderr.write(`run ${i + 1}/${o.runs}: uploads to ${server.name}\n`);
      const a = await makeBlobFile(dir, base, i, k * 2, o.chunkMiB << 20);
      samples[k]!.up.push(
        await timed(server, async () => {
          samples[k]!.closingPut.push(await uploadStreamed(server.url, name, a.file, a.digest));
        }),
      );
      const head = expect(await call(server.url, 'HEAD', `/v2/${name}/blobs/${a.digest}`), 200, 'HEAD blob');
      if (Number(head.headers['content-length']) !== base.length) throw new Error(`${server.name}: stored size ${head.headers['content-length']} != ${base.length}`);
      samples[k]!.lastDigest = a.digest;
      await removeBlobFile(a);

      const b = await makeBlobFile(dir, base, i, k * 2 + 1, o.chunkMiB << 20);
      samples[k]!.chunked.push(await timed(server, () => uploadChunked(server.url, name, b.chunks, b.digest)));
      expect(await call(server.url, 'HEAD', `/v2/${name}/blobs/${b.digest}`), 200, 'HEAD chunked blob');
      await removeBlobFile(b);
    }
  }
  for (let i = 0; i < o.runs; i++) {
    for (const [k, server] of servers.entries()) {
      samples[k]!.down.push(await timed(server, () => download(server.url, name, samples[k]!.lastDigest, base.length)));
    }
  }
  for (const [k, server] of servers.entries()) samples[k]!.manifestDigest = await pushSmallImage(server);
  for (let i = 0; i < o.runs; i++) {
    for (const [k, server] of servers.entries()) {
      process.stderr.write(`run ${i + 1}/${o.runs}: manifest GETs from ${server.name}\n`);
      samples[k]!.byTag.push(await wrk(`${server.url}/v2/bench/img/manifests/v1`, o.wrkSeconds, ACCEPT));
      samples[k]!.byDigest.push(await wrk(`${server.url}/v2/bench/img/manifests/${samples[k]!.manifestDigest}`, o.wrkSeconds, ACCEPT));
    }
  }

  const results = new Map<string, Figures>();
  for (const [k, server] of servers.entries()) {
    const sm = samples[k]!;
    results.set(server.name, {
      uploadMBs: mb / median(sm.up.map((t) => t.wall)),
      closingPutSeconds: median(sm.closingPut),
      chunkedMBs: mb / median(sm.chunked.map((t) => t.wall)),
      downloadMBs: mb / median(sm.down.map((t) => t.wall)),
      uploadCpuPerGB: (median(sm.up.map((t) => t.serverCpu)) * 1000) / mb,
      chunkedCpuPerGB: (median(sm.chunked.map((t) => t.serverCpu)) * 1000) / mb,
      downloadCpuPerGB: (median(sm.down.map((t) => t.serverCpu)) * 1000) / mb,
      manifestTagRps: median(sm.byTag),
      manifestDigestRps: median(sm.byDigest),
    });
  }
  return results;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-registry-'));
  const servers: Server[] = [];
  let results = new Map<string, Figures>();
  try {
    const base = randomBytes(o.sizeMiB << 20);
    const starters: [string, (d: string) => Promise<Server>][] = [
      ['berth', startBerth],
      ['docker-registry', startDockerRegistry],
    ];
    for (const [label, start] of starters) {
      if (o.only && o.only !== label) continue;
      servers.push(await start(dir));
    }
    results = await measureAll(servers, base, o, dir);
  } finally {
    for (const s of servers) await stopServer(s).catch((err: unknown) => process.stderr.write(`stopping ${s.name}: ${String(err)}\n`));
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }

  const rows: [string, (f: Figures) => string][] = [
    [`blob upload, 1 streamed PATCH (${o.sizeMiB} MiB), MB/s`, (f) => f.uploadMBs.toFixed(0)],
    ['  of which the closing PUT (verify, commit), s', (f) => f.closingPutSeconds.toFixed(2)],
    [`blob upload, ${o.chunkMiB} MiB chunks, MB/s`, (f) => f.chunkedMBs.toFixed(0)],
    [`blob download (${o.sizeMiB} MiB), MB/s`, (f) => f.downloadMBs.toFixed(0)],
    ['server CPU s per GB: streamed upload', (f) => f.uploadCpuPerGB.toFixed(2)],
    ['server CPU s per GB: chunked upload', (f) => f.chunkedCpuPerGB.toFixed(2)],
    ['server CPU s per GB: download', (f) => f.downloadCpuPerGB.toFixed(2)],
    ['manifest GET by tag, req/s', (f) => f.manifestTagRps.toFixed(0)],
    ['manifest GET by digest, req/s', (f) => f.manifestDigestRps.toFixed(0)],
  ];
  const labels = [...results.keys()];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nregistry benchmark on loopback — median of ${o.runs} interleaved runs; wrk -t2 -c16 -d${o.wrkSeconds}s; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${new Date().toISOString()}`);
  console.log(`${'work'.padEnd(width)}  ${labels.map((l) => l.padStart(16)).join('  ')}`);
  for (const [label, get] of rows) {
    console.log(`${label.padEnd(width)}  ${labels.map((l) => get(results.get(l)!).padStart(16)).join('  ')}`);
  }
}

await main();
