/**
 * Containers through berthd, side by side with docker (dockerd 20.10 +
 * containerd + runc) and podman (4.3 + conmon + runc), all in one run:
 *
 *   1. end to end from a CLI: `berth run --rm busybox true` (berth CLI →
 *      berthd), `docker run --rm --network none busybox true` against berthd
 *      (same client, other engine) and against dockerd, and `podman run --rm
 *      --network none busybox true`;
 *   2. the Engine API alone (no CLI start-up): create+start+wait+delete per
 *      container, sequential, each step timed, berthd vs dockerd with the same
 *      minimal client; then throughput: a fixed count of containers by K
 *      concurrent clients, containers per second;
 *   3. memory per running container: RSS and PSS of berth-monitor vs
 *      containerd-shim-runc-v2 vs conmon with idle `sleep` containers, and the
 *      engine's own growth per 100 running containers (berthd; dockerd +
 *      containerd);
 *   4. CLI start-up: `berth version` against a running berthd vs `node -e 0`
 *      vs `docker version`.
 *
 * CLI timings are interleaved (one run of each contender per round), so a
 * colleague's test starting mid-run slows every contender alike; the load
 * average is printed next to each section. All engines get the same offline
 * busybox image (test/helpers/busybox.ts) by `import`. berth is bundled as
 * scripts/build.mjs does it, into a private dir, with private copies of the
 * native helpers. Everything started here is stopped by PID and removed,
 * and the end of the run says whether anything was left behind.
 *
 * Usage (root):
 *   node bench/containers.ts [--iterations 20] [--throughput 60] [--concurrency 4]
 *        [--idle 10] [--growth 100] [--max-seconds 240] [--only e2e,api,memory,startup]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeBusyboxTar } from '../test/helpers/busybox.ts';
import { makeTempDir, removeTempDir } from '../test/helpers/tmp.ts';
import { startDockerd, DOCKER_CLI, type Dockerd } from '../test/helpers/peers/dockerd.ts';
import { startPodman, PODMAN_BIN, type Podman } from '../test/helpers/peers/podman.ts';
import { mountsUnder } from '../test/helpers/peers/process.ts';
import { formatTable } from './lib/stats.ts';
import { spread, ms, ratio } from './lib/spread.ts';
import { EngineHttp, watchCreatedContainers, type LifecycleTimes } from './lib/engine-http.ts';
import { enginePids, processMemory, loadAverage, kib, type Memory } from './lib/proc-info.ts';
import { buildBundle, startBundledDaemon, NODE, type Bundle, type BundledDaemon } from './lib/berth-bundle.ts';

// ---------------------------------------------------------------- options
interface Options {
  iterations: number;
  throughput: number;
  concurrency: number;
  idle: number;
  growth: number;
  maxSeconds: number;
  only: Set<string>;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { iterations: 20, throughput: 60, concurrency: 4, idle: 10, growth: 100, maxSeconds: 240, only: new Set(['e2e', 'api', 'memory', 'startup']) };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value (see the usage at the top of bench/containers.ts)`);
    const num = Number(value);
    const positive = () => {
      if (!Number.isInteger(num) || num <= 0) throw new Error(`${flag} ${value}: expected a positive integer`);
      return num;
    };
    switch (flag) {
      case '--iterations': o.iterations = positive(); break;
      case '--throughput': o.throughput = positive(); break;
      case '--concurrency': o.concurrency = positive(); break;
      case '--idle': o.idle = positive(); break;
      case '--growth': o.growth = positive(); break;
      case '--max-seconds': o.maxSeconds = positive(); break;
      case '--only': {
        const known = ['e2e', 'api', 'memory', 'startup'];
        const picked = value.split(',').filter(Boolean);
        const unknown = picked.filter((s) => !known.includes(s));
        if (unknown.length) throw new Error(`--only ${value}: unknown section(s) ${unknown.join(', ')} (known: ${known.join(', ')})`);
        o.only = new Set(picked);
        break;
      }
      default:
        throw new Error(`unknown flag ${flag} (see the usage at the top of bench/containers.ts)`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- timing
interface Contender {
  name: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
}

function timeCommand(c: Contender): number {
  const start = performance.now();
  const r = spawnSync(c.argv[0]!, c.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: c.env });
  const elapsed = performance.now() - start;
  if (r.status !== 0) throw new Error(`${c.name}: \`${c.argv.join(' ')}\` exited ${r.status ?? r.signal}: ${r.stderr?.toString().trim()}`);
  return elapsed;
}

/** Round-robin: each round runs every contender once, in a rotating order. */
function interleaved(contenders: Contender[], iterations: number, maxSeconds: number, warmup = 2): Map<string, number[]> {
  for (let w = 0; w < warmup; w++) for (const c of contenders) timeCommand(c);
  const samples = new Map(contenders.map((c) => [c.name, [] as number[]]));
  const deadline = Date.now() + maxSeconds * 1000;
  for (let round = 0; round < iterations && Date.now() < deadline; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length]!;
      samples.get(c.name)!.push(timeCommand(c));
    }
  }
  return samples;
}

function loadLine(startLoad: string): string {
  return `load average (1/5/15 min): ${startLoad} at start, ${loadAverage()} at end`;
}

function header(title: string): void {
  console.log(`\n== ${title}`);
}

// ---------------------------------------------------------------- setup
let opts: Options;
try {
  opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench/containers.ts needs root (namespaces, overlay mounts, cgroups)');
} catch (err) {
  console.error(`bench/containers.ts: ${(err as Error).message}`);
  process.exit(2);
}

const BUSYBOX_RUN = { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } };
const BUSYBOX_SLEEP = { Image: 'busybox', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'none' } };

const work = await makeTempDir('berth-bench-containers-');
let bundle: Bundle | undefined;
let berthd: BundledDaemon | undefined;
let dockerd: Dockerd | undefined;
let podman: Podman | undefined;
let watcher: ReturnType<typeof watchCreatedContainers> | undefined;
const summary: string[] = [];

try {
  console.log(`bench/containers.ts — ${new Date().toISOString()}, ${opts.iterations} iterations, load average ${loadAverage()}`);
  console.log('setting up: bundling berth, starting berthd, dockerd and podman, importing busybox into each …');
  const tar = join(work, 'busybox.tar');
  await makeBusyboxTar(work, tar);
  bundle = await buildBundle();
  berthd = await startBundledDaemon(bundle);
  watcher = watchCreatedContainers(berthd.socketPath);
  [dockerd, podman] = await Promise.all([startDockerd(), startPodman()]);

  const berthEnv: NodeJS.ProcessEnv = { ...process.env, BERTH_HOST: berthd.host };
  // The docker CLI with a private config dir; -H picks the engine.
  const dockerEnv: NodeJS.ProcessEnv = dockerd.env;
  const berthCli = (args: string[]): Contender => ({ name: `berth ${args.join(' ')}`, argv: [bundle!.cli, ...args], env: berthEnv });
  const dockerCli = (host: string, args: string[]): Contender => ({ name: '', argv: [DOCKER_CLI, '-H', host, ...args], env: dockerEnv });
  const podmanCli = (args: string[]): Contender => ({ name: `podman ${args.join(' ')}`, argv: [PODMAN_BIN, ...podman!.globalArgs, ...args], env: podman!.env });

  for (const c of [berthCli(['import', tar, 'busybox']), dockerCli(dockerd.host, ['import', tar, 'busybox']), podmanCli(['import', tar, 'busybox'])]) {
    c.name = c.name || 'docker import';
    timeCommand(c);
  }
  console.log(`versions: dockerd ${spawnSync(DOCKER_CLI, ['-H', dockerd.host, 'version', '-f', '{{.Server.Version}}'], { env: dockerEnv, encoding: 'utf8' }).stdout.trim()}, ` +
    `podman ${spawnSync(PODMAN_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^podman version /, '')}, node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()}`);

  // ------------------------------------------------------------ 1. end to end
  if (opts.only.has('e2e')) {
    header('1. end to end from a CLI: run --rm busybox true');
    const load = loadAverage();
    const contenders: Contender[] = [
      { ...berthCli(['run', '--rm', 'busybox', 'true']), name: 'berth run --rm busybox true          (berth CLI → berthd)' },
      { ...dockerCli(berthd.host, ['run', '--rm', '--network', 'none', 'busybox', 'true']), name: 'docker run --rm --network none …     (docker CLI → berthd)' },
      { ...dockerCli(dockerd.host, ['run', '--rm', '--network', 'none', 'busybox', 'true']), name: 'docker run --rm --network none …     (docker CLI → dockerd 20.10)' },
      { ...podmanCli(['run', '--rm', '--network', 'none', 'busybox', 'true']), name: 'podman run --rm --network none …     (podman 4.3, runc)' },
    ];
    const samples = interleaved(contenders, opts.iterations, opts.maxSeconds);
    const dockerMedian = spread(samples.get(contenders[2]!.name)!).median;
    const podmanMedian = spread(samples.get(contenders[3]!.name)!).median;
    const rows = contenders.map((c) => {
      const s = spread(samples.get(c.name)!);
      return [c.name, String(s.n), ms(s.median), ms(s.p10), ms(s.p90), ratio(s.median, dockerMedian), ratio(s.median, podmanMedian)];
    });
    console.log(formatTable(['what', 'n', 'median', 'p10', 'p90', '÷ docker', '÷ podman'], rows));
    console.log(loadLine(load));
    const berthMedian = spread(samples.get(contenders[0]!.name)!).median;
    const dockerToBerth = spread(samples.get(contenders[1]!.name)!).median;
    summary.push(`e2e: berth run ${ms(berthMedian)} = ${ratio(berthMedian, dockerMedian)} docker's ${ms(dockerMedian)} (goal ≤ 0.33×), ${ratio(berthMedian, podmanMedian)} podman's ${ms(podmanMedian)} (goal < 1×); docker CLI → berthd ${ms(dockerToBerth)} (${ratio(dockerToBerth, dockerMedian)})`);
  }

  // ------------------------------------------------------------ 2. API only
  if (opts.only.has('api')) {
    header('2. Engine API only: create + start + wait + delete of busybox true (same minimal client for both)');
    let load = loadAverage();
    const engines: Array<[string, EngineHttp]> = [['berthd', berthd.api], ['dockerd 20.10', new EngineHttp(dockerd.socket)]];
    for (const [, api] of engines) for (let w = 0; w < 2; w++) await api.lifecycle(BUSYBOX_RUN);
    const times = new Map<string, LifecycleTimes[]>(engines.map(([n]) => [n, []]));
    const deadline = Date.now() + opts.maxSeconds * 1000;
    for (let round = 0; round < opts.iterations && Date.now() < deadline; round++) {
      for (let k = 0; k < engines.length; k++) {
        const [name, api] = engines[(round + k) % engines.length]!;
        times.get(name)!.push(await api.lifecycle(BUSYBOX_RUN));
      }
    }
    const dockerTotal = spread(times.get('dockerd 20.10')!.map((t) => t.total)).median;
    const rows = engines.map(([name]) => {
      const t = times.get(name)!;
      const total = spread(t.map((x) => x.total));
      const step = (k: keyof LifecycleTimes) => ms(spread(t.map((x) => x[k])).median);
      return [name, String(total.n), ms(total.median), ms(total.p10), ms(total.p90), step('create'), step('start'), step('wait'), step('delete'), ratio(total.median, dockerTotal)];
    });
    console.log('sequential, one container at a time (step columns are medians):');
    console.log(formatTable(['engine', 'n', 'median', 'p10', 'p90', 'create', 'start', 'wait', 'delete', '÷ dockerd'], rows));
    console.log(loadLine(load));
    const berthTotal = spread(times.get('berthd')!.map((t) => t.total)).median;
    summary.push(`api: create+start+wait+delete berthd ${ms(berthTotal)} vs dockerd ${ms(dockerTotal)} (${ratio(berthTotal, dockerTotal)})`);

    load = loadAverage();
    const tputRows: string[][] = [];
    for (const [name, api] of engines) {
      let next = 0;
      const latencies: number[] = [];
      const start = performance.now();
      await Promise.all(
        Array.from({ length: opts.concurrency }, async () => {
          while (next < opts.throughput) {
            next++;
            latencies.push((await api.lifecycle(BUSYBOX_RUN)).total);
          }
        }),
      );
      const wall = performance.now() - start;
      const l = spread(latencies);
      const perSecond = (opts.throughput / wall) * 1000;
      tputRows.push([name, String(opts.throughput), String(opts.concurrency), `${(wall / 1000).toFixed(2)} s`, `${perSecond.toFixed(1)}/s`, ms(l.median), ms(l.p90)]);
      summary.push(`throughput: ${name} ${perSecond.toFixed(1)} containers/s (${opts.throughput} by ${opts.concurrency} clients)`);
    }
    console.log(`throughput: ${opts.throughput} containers (create+start+wait+delete) by ${opts.concurrency} concurrent clients, 2 cores:`);
    console.log(formatTable(['engine', 'count', 'clients', 'wall', 'containers/s', 'latency median', 'p90'], tputRows));
    console.log(loadLine(load));
    engines[1]![1].close();
  }

  // ------------------------------------------------------------ 3. memory
  if (opts.only.has('memory')) {
    header(`3. memory per running container: ${opts.idle} idle \`sleep 300\` containers per engine`);
    let load = loadAverage();
    const dockerApi = new EngineHttp(dockerd.socket);
    const startIdle = async (api: EngineHttp, count: number, parallel: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < count) {
            next++;
            const id = await api.create(BUSYBOX_SLEEP);
            await api.ok('POST', `/containers/${id}/start`);
          }
        }),
      );
    };
    await startIdle(berthd.api, opts.idle, 1);
    await startIdle(dockerApi, opts.idle, 1);
    for (let i = 0; i < opts.idle; i++) timeCommand(podmanCli(['run', '-d', '--network', 'none', 'busybox', 'sleep', '300']));
    await new Promise((r) => setTimeout(r, 1500));
    const measured: Array<[string, Memory[]]> = [
      ['berth-monitor', enginePids('berth-monitor', berthd.dir).map(processMemory)],
      ['containerd-shim-runc-v2 (docker)', enginePids('containerd-shim', dockerd.dir).map(processMemory)],
      ['conmon (podman)', enginePids('conmon', podman.dir).map(processMemory)],
    ];
    const monitorPss = spread(measured[0]![1].map((m) => m.pssKiB)).median;
    console.log(formatTable(
      ['process per container', 'count', 'RSS median', 'PSS median', 'RSS sum', 'PSS sum', 'PSS ÷ berth'],
      measured.map(([name, mems]) => {
        const pss = spread(mems.map((m) => m.pssKiB)).median;
        return [name, String(mems.length), kib(spread(mems.map((m) => m.rssKiB)).median), kib(pss),
          kib(mems.reduce((s, m) => s + m.rssKiB, 0)), kib(mems.reduce((s, m) => s + m.pssKiB, 0)), ratio(pss, monitorPss)];
      }),
    ));
    for (const [name, mems] of measured) summary.push(`memory: ${name} RSS ${kib(spread(mems.map((m) => m.rssKiB)).median)}, PSS ${kib(spread(mems.map((m) => m.pssKiB)).median)} per container (${mems.length} found)`);
    console.log(loadLine(load));
    await berthd.api.removeAll();
    await dockerApi.removeAll();
    timeCommand(podmanCli(['rm', '-af', '-t', '0']));

    header(`3b. engine growth per 100 running containers (${opts.growth} \`sleep 300\` started through the API, ${opts.concurrency} at a time)`);
    load = loadAverage();
    const settle = () => new Promise((r) => setTimeout(r, 2000));
    const rssOf = (pids: number[]) => pids.reduce((s, p) => s + processMemory(p).rssKiB, 0);
    const containerdPids = () => enginePids('containerd', dockerd!.dir).filter((p) => !enginePids('containerd-shim', dockerd!.dir).includes(p));
    const growthRows: string[][] = [];
    for (const [name, api, pids, perContainer] of [
      ['berthd', berthd.api, () => [berthd!.pid], () => enginePids('berth-monitor', berthd!.dir)],
      ['dockerd + containerd', dockerApi, () => [dockerd!.pid, ...containerdPids()], () => enginePids('containerd-shim', dockerd!.dir)],
    ] as const) {
      await settle();
      const before = rssOf(pids());
      await startIdle(api, opts.growth, opts.concurrency);
      await settle();
      const running = rssOf(pids());
      const helpers = perContainer();
      const helperRss = rssOf(helpers);
      await api.removeAll(opts.concurrency);
      await settle();
      const after = rssOf(pids());
      const left = perContainer().length;
      const per100 = ((running - before) / opts.growth) * 100;
      growthRows.push([name, kib(before), kib(running), kib(per100), kib(after), `${helpers.length} / ${kib(helperRss)}`, String(left)]);
      summary.push(`growth: ${name} +${kib(per100)} RSS per 100 running containers (per-container processes: ${helpers.length}, ${kib(helperRss)} RSS in all)`);
    }
    console.log(formatTable(['engine', 'RSS idle', `RSS with ${opts.growth}`, 'growth per 100', 'RSS after removal', 'per-container procs / RSS', 'procs left'], growthRows));
    console.log(loadLine(load));
    dockerApi.close();
  }

  // ------------------------------------------------------------ 4. CLI start-up
  if (opts.only.has('startup')) {
    header('4. CLI start-up: version against a running daemon');
    const load = loadAverage();
    const contenders: Contender[] = [
      { ...berthCli(['version']), name: 'berth version          (→ berthd)' },
      { ...berthCli(['--version']), name: 'berth --version        (no daemon call: bundle load only)' },
      { name: 'node -e 0              (Node 24, the CLI\'s runtime)', argv: [NODE, '-e', '0'], env: process.env },
      { ...dockerCli(berthd.host, ['version']), name: 'docker version         (docker CLI 28 → berthd)' },
      { ...dockerCli(dockerd.host, ['version']), name: 'docker version         (docker CLI 28 → dockerd)' },
    ];
    const samples = interleaved(contenders, Math.max(opts.iterations, 30), opts.maxSeconds);
    const nodeMedian = spread(samples.get(contenders[2]!.name)!).median;
    console.log(formatTable(['what', 'n', 'median', 'p10', 'p90', '÷ node -e 0'], contenders.map((c) => {
      const s = spread(samples.get(c.name)!);
      return [c.name, String(s.n), ms(s.median), ms(s.p10), ms(s.p90), ratio(s.median, nodeMedian)];
    })));
    console.log(loadLine(load));
    const b = spread(samples.get(contenders[0]!.name)!).median;
    const loadOnly = spread(samples.get(contenders[1]!.name)!).median;
    summary.push(`startup: berth version ${ms(b)} vs node -e 0 ${ms(nodeMedian)} (+${ms(b - nodeMedian)}; bundle load alone +${ms(loadOnly - nodeMedian)}), docker version → berthd ${ms(spread(samples.get(contenders[3]!.name)!).median)}`);
  }

  header(`summary (load average at the end: ${loadAverage()})`);
  for (const line of summary) console.log(`- ${line}`);
} finally {
  // Stop everything we started, by PID, and say whether anything was left.
  const created = watcher ? [...watcher.ids] : [];
  watcher?.stop();
  const berthDir = berthd?.dir;
  await berthd?.stop().catch((e: Error) => console.error(`stopping berthd: ${e.message}`));
  await dockerd?.stop().catch((e: Error) => console.error(`stopping dockerd: ${e.message}`));
  await podman?.stop().catch((e: Error) => console.error(`stopping podman: ${e.message}`));
  bundle?.remove();
  await removeTempDir(work);
  const cgroupsLeft: string[] = [];
  for (const hierarchy of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    for (const id of created) {
      const path = join('/sys/fs/cgroup', hierarchy, 'berth', id);
      if (existsSync(path)) cgroupsLeft.push(path);
    }
  }
  const mountsLeft = berthDir ? mountsUnder(berthDir) : [];
  console.log(`\ncleanup: berthd created ${created.length} containers; cgroups left: ${cgroupsLeft.length ? cgroupsLeft.join(', ') : 'none'}; mounts left: ${mountsLeft.length ? mountsLeft.join(', ') : 'none'}`);
}
