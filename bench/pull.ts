/**
 * Pull benchmark (issue 2, Performance): a multi-layer image (~280 MiB
 * uncompressed, thousands of files, 5 gzip layers sampled reproducibly from
 * the host's /usr) pushed into Debian's docker-registry on loopback, then
 * pulled into a fresh store, unpacked and ready to run, side by side:
 *
 *   berth       through berthd + the docker CLI when berthd can pull, else the
 *               engine library (ImageService.pull, or pullImage + unpack)
 *   docker      `docker pull` against a private dockerd 20.10 (overlay2)
 *   podman      `podman pull` (overlay storage)
 *   skopeo      `skopeo copy docker://… oci:DIR`: transfer only, no unpack — the transfer floor
 *   limit       sha256 + gunzip + sha256 + tar -x of the same blobs, 2 layers in parallel —
 *               the machine's floor for the unpack part (no network)
 *
 * Median of --runs (default 3), runs interleaved so drift hits everyone alike.
 *
 * Usage: node bench/pull.ts [--runs 3] [--seed berth-bench-1] [--only berth,docker,podman,skopeo,limit]
 * Every process is started and stopped by PID; temp dirs are removed at the end.
 */
import { mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTempDir } from '../test/helpers/tmp.ts';
import { startDockerRegistry, type DockerRegistry } from '../test/helpers/peers/docker-registry.ts';
import { startDockerd, type Dockerd } from '../test/helpers/peers/dockerd.ts';
import { startPodman, type Podman } from '../test/helpers/peers/podman.ts';
import { skopeoCopy } from '../test/helpers/peers/skopeo.ts';
import { runOk } from '../test/helpers/peers/process.ts';
import { buildBenchImage, type BenchImage } from './lib/bench-image.ts';
import { machineLimit } from './lib/machine-limit.ts';
import { formatMiB, formatSeconds, formatTable, median, timeMs } from './lib/stats.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '../..');
const CONTENDERS = ['berth', 'berth-seq', 'docker', 'podman', 'skopeo', 'limit'] as const;
type Contender = (typeof CONTENDERS)[number];

interface Options {
  runs: number;
  seed: string;
  only: Set<Contender>;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { runs: 3, seed: 'berth-bench-1', only: new Set(CONTENDERS) };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--runs') o.runs = Math.max(1, Number(v)), i++;
    else if (argv[i] === '--seed') o.seed = String(v), i++;
    else if (argv[i] === '--only') {
      o.only = new Set(String(v).split(',').filter((c): c is Contender => (CONTENDERS as readonly string[]).includes(c)));
      i++;
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

/** One way of running the berth pull, with a label saying which path it measured. */
interface BerthRunner {
  label: string;
  /** Untimed: a fresh, empty engine / data root for the next run. */
  prepare(): Promise<void>;
  pull(): Promise<void>;
  close(): Promise<void>;
}

/** berthd (the real daemon, fresh data root per run) with the docker CLI pulling through it. */
async function berthdRunner(ref: string): Promise<BerthRunner | string> {
  const helper = join(REPO, 'test/helpers/daemon.ts');
  if (!existsSync(helper)) return 'test/helpers/daemon.ts not there yet';
  const { startDaemon } = (await import(helper)) as { startDaemon: (o?: object) => Promise<{ host: string; stop(): Promise<void> }> };
  let daemon: { host: string; stop(): Promise<void> } | undefined;
  const runner: BerthRunner = {
    label: 'berth (berthd + docker CLI)',
    async prepare() {
      await daemon?.stop();
      daemon = await startDaemon();
    },
    async pull() {
      await runOk('/usr/local/bin/docker', ['-H', daemon!.host, 'pull', '-q', ref], { timeoutMs: 600_000 });
    },
    async close() {
      await daemon?.stop();
      daemon = undefined;
    },
  };
  // Probe: does this berthd pull yet? (a failure here is reported, not fatal)
  try {
    await runner.prepare();
    await runner.pull();
    return runner;
  } catch (err) {
    await runner.close();
    return `berthd cannot pull yet: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** The engine as a library: ImageService.pull when it exists, else pullImage then unpack. */
async function libraryRunner(ref: string, registryHost: string, work: string): Promise<BerthRunner | string> {
  let root = '';
  let n = 0;
  const fresh = async () => {
    if (root) await removeTempDir(root);
    root = join(work, `berth-root-${n++}`);
    await mkdir(root, { recursive: true });
  };
  const servicePath = join(REPO, 'src/image/service.ts');
  if (existsSync(servicePath)) {
    const mod = (await import(servicePath)) as Record<string, any>;
    const Service = mod.ImageService;
    if (Service?.open) {
      let service: any;
      return {
        label: 'berth (library: ImageService.pull)',
        async prepare() {
          await service?.close?.();
          await fresh();
          service = await Service.open(root);
        },
        async pull() {
          await service.pull(ref, { insecureRegistries: [registryHost] });
        },
        async close() {
          await service?.close?.();
          if (root) await removeTempDir(root);
        },
      };
    }
  }
  const distPath = join(REPO, 'src/distribution/pull.ts');
  const layersPath = join(REPO, 'src/snapshot/layers.ts');
  const openPath = join(REPO, 'src/snapshot/open.ts');
  const contentPath = join(REPO, 'src/content/local.ts');
  if (![distPath, layersPath, openPath, contentPath].every(existsSync)) return 'no pull path in the engine yet';
  const { pullImage } = await import(distPath);
  const { applyImageLayers } = await import(layersPath);
  const { openSnapshotter } = await import(openPath);
  const { openContentStore } = await import(contentPath);
  return {
    label: 'berth (library: pullImage, then unpack)',
    prepare: fresh,
    async pull() {
      const store = await openContentStore(join(root, 'content'));
      const snapshotter = await openSnapshotter({ dataRoot: root });
      const result = await pullImage({ reference: ref, store, insecureRegistries: [registryHost], credentials: null });
      await applyImageLayers({ store, snapshotter, layers: result.layers, diffIds: result.config.rootfs.diff_ids });
    },
    async close() {
      if (root) await removeTempDir(root);
    },
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const work = await makeTempDir('berth-bench-pull-');
  let registry: DockerRegistry | undefined;
  let dockerd: Dockerd | undefined;
  let podman: Podman | undefined;
  let berth: BerthRunner | undefined;
  const pending: Partial<Record<Contender, string>> = {};
  const loadStart = loadavg()[0]!;
  try {
    process.stdout.write(`building the image from /usr (seed ${options.seed}) … `);
    let image!: BenchImage;
    const buildMs = await timeMs(async () => {
      image = await buildBenchImage(work, { seed: options.seed });
    });
    console.log(`${formatSeconds(buildMs)}`);
    for (const l of image.layers) console.log(`  ${l.source.padEnd(28)} ${formatMiB(l.size).padStart(10)} gz  ${formatMiB(l.uncompressedSize).padStart(10)}  ${String(l.files).padStart(6)} files`);
    console.log(`  total: ${formatMiB(image.totalCompressed)} gz, ${formatMiB(image.totalUncompressed)} uncompressed, ${image.totalFiles} files, ${image.layers.length} layers`);

    registry = await startDockerRegistry();
    const ref = `${registry.host}/bench/usr:${image.tag}`;
    await skopeoCopy(`oci:${image.layout}:${image.tag}`, `docker://${ref}`, { tmpdir: work, timeoutMs: 600_000 });
    console.log(`pushed to docker-registry as ${ref}\n`);

    const run: Partial<Record<Contender, { prepare(i: number): Promise<void>; pull(i: number): Promise<void> }>> = {};
    if (options.only.has('berth')) {
      let r = await berthdRunner(ref);
      if (typeof r === 'string') {
        pending.berth = r;
        const lib = await libraryRunner(ref, registry.host, work);
        if (typeof lib === 'string') pending.berth += `; ${lib}`;
        else r = lib;
      }
      if (typeof r !== 'string') {
        berth = r;
        run.berth = { prepare: () => r.prepare(), pull: () => r.pull() };
      }
    }
    if (options.only.has('berth-seq')) {
      // The path before the pull pipeline, as a same-run baseline: download everything, then unpack.
      const { pullImage } = await import('../src/distribution/pull.ts');
      const { applyImageLayers } = await import('../src/snapshot/layers.ts');
      const { openSnapshotter } = await import('../src/snapshot/open.ts');
      const { openContentStore } = await import('../src/content/local.ts');
      let root = '';
      run['berth-seq'] = {
        async prepare(i) {
          if (root) await removeTempDir(root);
          root = join(work, `berth-seq-${i}`);
          await mkdir(root, { recursive: true });
        },
        async pull() {
          const store = await openContentStore(join(root, 'content'), { ingestRoot: join(root, 'ingest') });
          const snapshotter = await openSnapshotter({ dataRoot: root });
          const result = await pullImage({ reference: ref, store, insecureRegistries: [registry!.host], credentials: null });
          await applyImageLayers({ store, snapshotter, layers: result.layers, diffIds: result.config.rootfs.diff_ids });
        },
      };
    }
    if (options.only.has('docker')) {
      const d = (dockerd = await startDockerd());
      run.docker = {
        async prepare() {
          await d.docker(['rmi', '-f', ref]);
          await d.docker(['image', 'prune', '-af']);
        },
        async pull() {
          await d.dockerOk(['pull', '-q', ref], { timeoutMs: 600_000 });
        },
      };
    }
    if (options.only.has('podman')) {
      const p = (podman = await startPodman({ insecureRegistries: [registry.host] }));
      run.podman = {
        async prepare() {
          await p.podman(['rmi', '-af']);
        },
        async pull() {
          await p.podmanOk(['pull', '-q', ref], { timeoutMs: 600_000 });
        },
      };
    }
    if (options.only.has('skopeo')) {
      run.skopeo = {
        async prepare(i) {
          await rm(join(work, `skopeo-${i - 1}`), { recursive: true, force: true });
        },
        async pull(i) {
          await skopeoCopy(`docker://${ref}`, `oci:${join(work, `skopeo-${i}`)}:x`, { tmpdir: work, timeoutMs: 600_000 });
        },
      };
    }
    if (options.only.has('limit')) {
      const blobs = image.layers.map((l) => join(image.layout, 'blobs', 'sha256', l.digest.slice(7)));
      run.limit = {
        async prepare(i) {
          await rm(join(work, `limit-${i - 1}`), { recursive: true, force: true });
        },
        async pull(i) {
          await machineLimit(blobs, join(work, `limit-${i}`), 2);
        },
      };
    }

    const times: Partial<Record<Contender, number[]>> = {};
    for (let i = 0; i < options.runs; i++) {
      for (const c of CONTENDERS) {
        const r = run[c];
        if (!r) continue;
        await r.prepare(i);
        const ms = await timeMs(() => r.pull(i));
        (times[c] ??= []).push(ms);
        console.log(`run ${i + 1}/${options.runs}  ${c.padEnd(7)} ${formatSeconds(ms)}`);
      }
    }

    const med = (c: Contender) => median(times[c] ?? []);
    const dockerMs = med('docker');
    const limitMs = med('limit');
    const labels: Record<Contender, string> = {
      berth: berth?.label ?? 'berth',
      'berth-seq': 'berth sequential (library: download all, then unpack)',
      docker: 'docker pull (dockerd 20.10, overlay2)',
      podman: 'podman pull (4.3, overlay)',
      skopeo: 'skopeo copy → oci: (transfer floor, no unpack)',
      limit: 'machine limit: sha256+gunzip+tar -x, 2 parallel',
    };
    const rows = CONTENDERS.filter((c) => options.only.has(c)).map((c) => {
      if (!times[c]) return [labels[c], 'pending', '', '', ''];
      const m = med(c);
      return [
        labels[c],
        formatSeconds(m),
        `${((image.totalCompressed / (1024 * 1024)) / (m / 1000)).toFixed(0)} MiB/s`,
        Number.isFinite(dockerMs) ? `${(m / dockerMs).toFixed(2)}×` : '',
        Number.isFinite(limitMs) ? `${(m / limitMs).toFixed(2)}×` : '',
      ];
    });
    console.log(`\npull of ${image.layers.length} layers, ${formatMiB(image.totalCompressed)} gz / ${formatMiB(image.totalUncompressed)} / ${image.totalFiles} files from docker-registry on loopback; median of ${options.runs}`);
    console.log(formatTable(['', 'median', 'gz rate', 'vs docker', 'vs limit'], rows));
    const loadEnd = loadavg()[0]!;
    const cores = availableParallelism();
    console.log(`load average ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at end, ${cores} cores${Math.max(loadStart, loadEnd) > cores ? ' — the machine was busy: absolute times are inflated, compare the ratios' : ''}`);
    if (pending.berth) console.log(`\nberth: ${berth ? `(berthd path: ${pending.berth}; measured the library instead)` : `PENDING — ${pending.berth}`}`);
  } finally {
    await berth?.close().catch(() => {});
    await dockerd?.stop().catch(() => {});
    await podman?.stop().catch(() => {});
    await registry?.stop().catch(() => {});
    await removeTempDir(work);
  }
}

await main();
