import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { writeTar, type TarWriteEntry } from '../../src/archive/tar.ts';

/**
 * A realistic multi-layer image made offline and reproducibly from the host's
 * /usr: each layer samples one tree with a fixed seed (a file is taken when
 * sha256(seed + path) falls under the fraction that fills the layer's budget),
 * so the same host and seed give the same bytes. Layers are gzip tars with
 * fixed owners and mtimes; the result is an OCI image layout on disk.
 */
export interface LayerPlan {
  /** Host directory sampled (its path is kept inside the image). */
  source: string;
  budgetMiB: number;
}

export const DEFAULT_LAYERS: LayerPlan[] = [
  { source: '/usr/bin', budgetMiB: 60 },
  { source: '/usr/lib/x86_64-linux-gnu', budgetMiB: 90 },
  { source: '/usr/share', budgetMiB: 60 },
  { source: '/usr/include', budgetMiB: 40 },
  { source: '/usr/lib/python3', budgetMiB: 30 },
];

export interface BuiltLayer {
  source: string;
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  files: number;
}

export interface BenchImage {
  layout: string;
  tag: string;
  layers: BuiltLayer[];
  manifestDigest: string;
  totalCompressed: number;
  totalUncompressed: number;
  totalFiles: number;
}

const MTIME = 1_700_000_000;
/** Skip single huge files: the point is many files of ordinary sizes. */
const MAX_FILE = 16 * 1024 * 1024;

interface Picked {
  rel: string;
  abs: string;
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  linkname: string;
}

async function walk(root: string): Promise<Picked[]> {
  const out: Picked[] = [];
  async function visit(dir: string): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const abs = join(dir, name);
      let st;
      try {
        st = await lstat(abs);
      } catch {
        continue;
      }
      const rel = abs.slice(1);
      if (st.isDirectory()) {
        out.push({ rel, abs, kind: 'dir', mode: st.mode & 0o7777, size: 0, linkname: '' });
        await visit(abs);
      } else if (st.isFile() && st.size <= MAX_FILE) {
        out.push({ rel, abs, kind: 'file', mode: st.mode & 0o7777, size: st.size, linkname: '' });
      } else if (st.isSymbolicLink()) {
        out.push({ rel, abs, kind: 'symlink', mode: 0o777, size: 0, linkname: await readlink(abs) });
      }
    }
  }
  await visit(root);
  return out;
}

function sample(all: Picked[], budgetBytes: number, seed: string): Picked[] {
  const total = all.reduce((s, p) => s + p.size, 0);
  const fraction = Math.min(1, budgetBytes / Math.max(1, total));
  const keep = new Set<string>();
  let used = 0;
  for (const p of all) {
    if (p.kind === 'dir') continue;
    const h = createHash('sha256').update(seed + p.rel).digest().readUInt32BE(0) / 0x1_0000_0000;
    if (h >= fraction || used + p.size > budgetBytes) continue;
    used += p.size;
    keep.add(p.rel);
    // Keep every parent directory of a kept entry.
    for (let d = p.rel.lastIndexOf('/'); d > 0; d = p.rel.lastIndexOf('/', d - 1)) keep.add(p.rel.slice(0, d));
  }
  return all.filter((p) => keep.has(p.rel));
}

async function* entries(picked: Picked[], parents: string[]): AsyncGenerator<TarWriteEntry> {
  const base = { uid: 0, gid: 0, mtime: MTIME, devmajor: 0, devminor: 0 };
  for (const dir of parents) yield { header: { ...base, name: `${dir}/`, type: 'dir', mode: 0o755, size: 0, linkname: '' } };
  for (const p of picked) {
    if (p.kind === 'dir') yield { header: { ...base, name: `${p.rel}/`, type: 'dir', mode: p.mode, size: 0, linkname: '' } };
    else if (p.kind === 'symlink') yield { header: { ...base, name: p.rel, type: 'symlink', mode: 0o777, size: 0, linkname: p.linkname } };
    else yield { header: { ...base, name: p.rel, type: 'file', mode: p.mode, size: p.size, linkname: '' }, body: () => createReadStream(p.abs, { highWaterMark: 1 << 20 }) };
  }
}

function hashing(hash: ReturnType<typeof createHash>, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      cb(null, chunk);
    },
  });
}

async function buildLayer(plan: LayerPlan, seed: string, blobs: string): Promise<BuiltLayer> {
  const picked = sample(await walk(plan.source), plan.budgetMiB * 1024 * 1024, seed);
  // The source's own ancestors (usr/, usr/lib/) as directory entries, so each layer stands alone.
  const parts = plan.source.slice(1).split('/');
  const parents = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  const raw = { bytes: 0 };
  const gz = { bytes: 0 };
  const tmp = join(blobs, `.building-${createHash('sha256').update(plan.source).digest('hex').slice(0, 8)}`);
  await pipeline(Readable.from(writeTar(entries(picked, parents))), hashing(diffHash, raw), createGzip({ level: 6, chunkSize: 256 * 1024 }), hashing(blobHash, gz), createWriteStream(tmp));
  const hex = blobHash.digest('hex');
  const { rename } = await import('node:fs/promises');
  await rename(tmp, join(blobs, hex));
  return {
    source: plan.source,
    digest: `sha256:${hex}`,
    size: gz.bytes,
    diffId: `sha256:${diffHash.digest('hex')}`,
    uncompressedSize: raw.bytes,
    files: picked.filter((p) => p.kind !== 'dir').length,
  };
}

/** Build the image layout in `dir` (2 layers at a time, one per core). */
export async function buildBenchImage(dir: string, options: { seed?: string; layers?: LayerPlan[]; tag?: string } = {}): Promise<BenchImage> {
  const seed = options.seed ?? 'berth-bench-1';
  const plans = options.layers ?? DEFAULT_LAYERS;
  const tag = options.tag ?? '1';
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const built: BuiltLayer[] = new Array(plans.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < plans.length) {
        const i = next++;
        built[i] = await buildLayer(plans[i]!, seed, blobs);
      }
    }),
  );
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: new Date(MTIME * 1000).toISOString(),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
    history: built.map((l) => ({ created: new Date(MTIME * 1000).toISOString(), created_by: `sample of ${l.source} (seed ${seed})` })),
  }));
  const configHex = createHash('sha256').update(config).digest('hex');
  await writeFile(join(blobs, configHex), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
    layers: built.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }));
  const manifestHex = createHash('sha256').update(manifest).digest('hex');
  await writeFile(join(blobs, manifestHex), manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestHex}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return {
    layout,
    tag,
    layers: built,
    manifestDigest: `sha256:${manifestHex}`,
    totalCompressed: built.reduce((s, l) => s + l.size, 0),
    totalUncompressed: built.reduce((s, l) => s + l.uncompressedSize, 0),
    totalFiles: built.reduce((s, l) => s + l.files, 0),
  };
}
