import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../tmp.ts';
import { run, runOk, pidsReferencing, killPids, onExitCleanup, killAndRemoveSync } from './process.ts';
import type { RunResult } from './process.ts';

/**
 * podman (Debian's 4.3) with every piece of state in one temp dir: storage
 * (--root/--runroot, overlay), libpod tmp, volumes, network config, events
 * log; its own containers.conf (runtime, cgroupfs, the ulimits capped to what
 * root may set here — see PEERS.md), storage.conf and registries.conf (the
 * given loopback registries are insecure). stop() removes containers, resets
 * the storage, stops any conmon left behind by PID and removes the dir.
 */
export interface PodmanOptions {
  /** OCI runtime name or path (default runc; crun refuses the hybrid cgroup layout here). */
  runtime?: string;
  /** host:port registries to reach over plain HTTP (e.g. the docker-registry harness's `host`). */
  insecureRegistries?: string[];
}

export interface Podman {
  dir: string;
  root: string;
  runroot: string;
  env: NodeJS.ProcessEnv;
  /** The global flags every call gets (for callers that spawn podman themselves). */
  globalArgs: string[];
  podman(args: string[], options?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult>;
  podmanOk(args: string[], options?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult>;
  /** Mark another host:port insecure (rewrites registries.conf; podman reads it per call). */
  allowInsecure(hostPort: string): Promise<void>;
  stop(): Promise<void>;
}

export const PODMAN_BIN = '/usr/bin/podman';

export async function startPodman(options: PodmanOptions = {}): Promise<Podman> {
  const dir = await makeTempDir('berth-peer-podman-');
  const root = join(dir, 'root');
  const runroot = join(dir, 'runroot');
  const tmp = join(dir, 'tmp');
  const libpodTmp = join(dir, 'libpod-tmp');
  const volumes = join(dir, 'volumes');
  const networks = join(dir, 'networks');
  for (const d of [root, runroot, tmp, libpodTmp, volumes, networks]) await mkdir(d, { recursive: true });

  const containersConf = join(dir, 'containers.conf');
  const storageConf = join(dir, 'storage.conf');
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(
    containersConf,
    `[containers]\n` +
      `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n` +
      `[engine]\n` +
      `runtime = "${options.runtime ?? 'runc'}"\n` +
      `cgroup_manager = "cgroupfs"\n` +
      `events_logger = "file"\n` +
      `events_logfile_path = "${join(dir, 'events.log')}"\n` +
      `tmp_dir = "${libpodTmp}"\n` +
      `volume_path = "${volumes}"\n` +
      `[network]\n` +
      `network_config_dir = "${networks}"\n`,
  );
  await writeFile(storageConf, `[storage]\ndriver = "overlay"\ngraphroot = "${root}"\nrunroot = "${runroot}"\n`);
  const insecure = new Set(options.insecureRegistries ?? []);
  const writeRegistries = () =>
    writeFile(
      registriesConf,
      `unqualified-search-registries = []\n` +
        [...insecure].map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join(''),
    );
  await writeRegistries();

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    TMPDIR: tmp,
  };
  const globalArgs = [
    '--root', root,
    '--runroot', runroot,
    '--storage-driver', 'overlay',
    '--cgroup-manager=cgroupfs',
    '--events-backend=file',
    '--tmpdir', libpodTmp,
    '--volumepath', volumes,
    '--network-config-dir', networks,
  ];
  const podman = (args: string[], o: { input?: string | Buffer; timeoutMs?: number } = {}) =>
    run(PODMAN_BIN, [...globalArgs, ...args], { env, ...o });
  const podmanOk = (args: string[], o: { input?: string | Buffer; timeoutMs?: number } = {}) =>
    runOk(PODMAN_BIN, [...globalArgs, ...args], { env, ...o });

  // No long-running podman process: conmon and container processes are found by the dir in their command line.
  const unregister = onExitCleanup(() => killAndRemoveSync(undefined, dir));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    unregister();
    await podman(['rm', '-af', '-t', '0'], { timeoutMs: 60_000 }).catch(() => undefined);
    // reset unmounts the overlay layers and removes storage; the dir goes afterwards anyway.
    await podman(['system', 'reset', '-f'], { timeoutMs: 60_000 }).catch(() => undefined);
    await killPids(pidsReferencing(dir));
    await removeTempDir(dir);
    // With the cgroupfs manager podman puts every conmon under libpod_parent/conmon
    // and never removes it: remove it when no other podman uses it (rmdir
    // refuses a cgroup with processes or children, so a busy one stays).
    await removeEmptyCgroups(['libpod_parent/conmon', 'libpod_parent']);
  };
  return {
    dir,
    root,
    runroot,
    env,
    globalArgs,
    podman,
    podmanOk,
    allowInsecure: async (hostPort: string) => {
      insecure.add(hostPort);
      await writeRegistries();
    },
    stop,
  };
}

async function removeEmptyCgroups(relative: string[]): Promise<void> {
  const { readdir, rmdir } = await import('node:fs/promises');
  const hierarchies = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const rel of relative) {
    for (const h of [...hierarchies.map((x) => join('/sys/fs/cgroup', x)), '/sys/fs/cgroup']) {
      await rmdir(join(h, rel)).catch(() => {});
    }
  }
}
