/**
 * Container start-to-exit of `true` from a busybox bundle, side by side:
 *   1. `berth-runtime run` (a CLI call, Node start-up included) vs `runc run`
 *   2. berth's library launch path (what berthd uses: plan → launcher → exit
 *      status, no Node start-up) vs `crun run`. crun 1.8 refuses this host's
 *      hybrid cgroup layout, so per /work/shared/PEERS.md it runs in a private
 *      mount namespace without the cgroup2 mount — and runc and berth run in
 *      the same wrapper, so its cost cancels.
 *   3. what stays resident per running container (berth: the launcher's
 *      optional native monitor; no Node process per container).
 * Usage: node bench/runtime.ts [iterations]   (root; prints a table)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { bundleCommands } from '../scripts/bundle.mjs';
import { makeBusyboxRootfs } from '../test/helpers/busybox.ts';
import { makeTempDir, removeTempDir } from '../test/helpers/tmp.ts';
import { defaultSpec } from '../src/runtime/default-spec.ts';
import { createContainer, deleteContainer, runContainer, startContainer } from '../src/runtime/container.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '../..');
const N = Number(process.argv[2] ?? 30);
// The bundled CLI lives in a temp dir: point it at this checkout's launcher.
process.env.BERTH_LAUNCHER = join(REPO, 'native/build/berth-launcher');
const WRAP = (cmd: string) => ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `umount /sys/fs/cgroup/unified && exec ${cmd}`];

interface Row {
  what: string;
  samples: number[];
}

function stats(samples: number[]): { median: number; p10: number; p90: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), min: s[0]! };
}

function timeSync(argv: string[]): number {
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

const tmp = await makeTempDir('berth-bench-rt-');
const stateRoot = `/run/berth-bench-${process.pid}`;
try {
  const bundle = join(tmp, 'bundle');
  await makeBusyboxRootfs(join(bundle, 'rootfs'));
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ['true'];
  // crun 1.8 only accepts 1.0.x configs; nothing here needs a later field.
  spec.ociVersion = '1.0.2';
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));

  // berth-runtime exactly as installed: scripts/build.mjs's bundles behind the
  // compile-cache launcher, run by the project's Node (in .tmp/ inside the
  // checkout, so bundled dependencies still resolve from node_modules).
  const bundleDir = join(REPO, '.tmp', `bench-runtime-${process.pid}`);
  await bundleCommands({ root: REPO, outdir: bundleDir, node: process.execPath, names: ['berth-runtime'] });
  const cli = join(bundleDir, 'berth-runtime');
  execFileSync('make', ['-s', '-C', join(REPO, 'native')]);
  const roots = { berth: join(stateRoot, 'berth'), runc: join(stateRoot, 'runc'), crun: join(stateRoot, 'crun'), lib: join(stateRoot, 'lib') };
  for (const r of Object.values(roots)) mkdirSync(r, { recursive: true });

  const rows: Row[] = [
    { what: 'berth-runtime run (CLI, Node start-up included)', samples: [] },
    { what: 'runc run', samples: [] },
    { what: 'berth library launch (berthd path)', samples: [] },
    { what: 'crun run            [in crun wrapper]', samples: [] },
    { what: 'runc run            [in crun wrapper]', samples: [] },
    { what: 'berth-runtime run   [in crun wrapper]', samples: [] },
    { what: 'wrapper alone (unshare + umount + true)', samples: [] },
  ];
  let i = 0;
  const lib = async (id: string) => {
    const t = performance.now();
    await runContainer({ id, bundle, root: roots.lib, stdio: ['ignore', 'ignore', 'inherit'] });
    return performance.now() - t;
  };
  // Warm-up, then interleave so machine load hits every runtime alike.
  for (let w = 0; w < 3; w++) {
    timeSync([cli, '--root', roots.berth, 'run', '--bundle', bundle, `w${w}`]);
    timeSync(['runc', '--root', roots.runc, 'run', '--bundle', bundle, `w${w}`]);
    await lib(`w${w}`);
  }
  for (; i < N; i++) {
    rows[0]!.samples.push(timeSync([cli, '--root', roots.berth, 'run', '--bundle', bundle, `b${i}`]));
    rows[1]!.samples.push(timeSync(['runc', '--root', roots.runc, 'run', '--bundle', bundle, `r${i}`]));
    rows[2]!.samples.push(await lib(`l${i}`));
    rows[3]!.samples.push(timeSync(WRAP(`crun --root ${roots.crun} run --bundle ${bundle} c${i}`)));
    rows[4]!.samples.push(timeSync(WRAP(`runc --root ${roots.runc} run --bundle ${bundle} rw${i}`)));
    rows[5]!.samples.push(timeSync(WRAP(`${cli} --root ${roots.berth} run --bundle ${bundle} bw${i}`)));
    rows[6]!.samples.push(timeSync(WRAP('true')));
  }

  // Resident cost of one running container: berth's launcher monitor vs nothing else.
  const exitFile = join(tmp, 'exit');
  spec.process!.args = ['sleep', '60'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const created = await createContainer({ id: 'rss', bundle, root: roots.lib, exitFile, stdio: ['ignore', 'ignore', 'ignore'] });
  await startContainer(roots.lib, 'rss');
  const monitorPid = created.launch.child.pid!;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${monitorPid}/status`, 'utf8'))?.[1] ?? 0);
  await deleteContainer(roots.lib, 'rss', true);

  const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`\nstart-to-exit of \`true\`, busybox bundle, ${N} iterations each, interleaved (ms; load average ${loadavg})\n`);
  console.log('| what | median | p10 | p90 | min |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const s = stats(r.samples);
    console.log(`| ${r.what} | ${s.median.toFixed(1)} | ${s.p10.toFixed(1)} | ${s.p90.toFixed(1)} | ${s.min.toFixed(1)} |`);
  }
  console.log(`\nresident per running container: berth launcher monitor ${(rssKb / 1024).toFixed(2)} MiB RSS (no Node process per container); ` +
    'with create/start via the CLI nothing of berth stays (the container is reparented to the caller\'s subreaper).');
} finally {
  rmSync(stateRoot, { recursive: true, force: true });
  rmSync(join(REPO, '.tmp', `bench-runtime-${process.pid}`), { recursive: true, force: true });
  await removeTempDir(tmp);
}
