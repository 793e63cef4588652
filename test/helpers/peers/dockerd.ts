import { writeFile, mkdir, readdir, rmdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../tmp.ts';
import { startLogged, stopProcess, waitUntil, run, runOk, pidsReferencing, killPids, mountsUnder, onExitCleanup, killAndRemoveSync } from './process.ts';
import type { RunResult } from './process.ts';

/**
 * A private dockerd (Debian's docker.io 20.10) per /work/shared/PEERS.md:
 * data root, exec root, pidfile, socket and the containerd it manages all live
 * in one temp dir; no bridge, no iptables, no host network changes; its own
 * containerd namespaces and cgroup parent so it never meets another dockerd.
 * stop() removes its containers, stops it by PID, stops any shim left behind
 * (found by its temp dir in the command line), unmounts overlay2/netns mounts
 * beneath the temp dir, removes its cgroups and the dir.
 */
export interface DockerdOptions {
  /** Extra OCI runtimes: name → path of a runc-compatible binary (dockerd --add-runtime). */
  runtimes?: Record<string, string>;
  /** Registries allowed over plain HTTP besides 127.0.0.0/8 (which dockerd allows anyway). */
  insecureRegistries?: string[];
  /** Extra dockerd arguments. */
  extraArgs?: string[];
}

export interface Dockerd {
  /** Path of the API socket. */
  socket: string;
  /** unix:///…/docker.sock, for -H / DOCKER_HOST. */
  host: string;
  dir: string;
  dataRoot: string;
  pid: number;
  /** Env for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** Run the docker CLI 28 (/usr/local/bin/docker) against this daemon; never throws on exit code. */
  docker(args: string[], options?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult>;
  /** Like docker(), but throws when the command fails. */
  dockerOk(args: string[], options?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

export const DOCKERD_BIN = '/usr/sbin/dockerd';
export const DOCKER_CLI = '/usr/local/bin/docker';

export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const dir = await makeTempDir('berth-peer-dockerd-');
  const tag = `berth-peer-${randomBytes(4).toString('hex')}`;
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const cliConfig = join(dir, 'cli-config');
  await mkdir(dataRoot);
  await mkdir(execRoot);
  await mkdir(cliConfig);
  // An empty daemon.json so the host's /etc/docker/daemon.json never applies.
  await writeFile(join(dir, 'daemon.json'), '{}\n');
  const args = [
    '--config-file', join(dir, 'daemon.json'),
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', join(dir, 'docker.pid'),
    '-H', host,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--userland-proxy=false',
    '--storage-driver', 'overlay2',
    '--containerd-namespace', tag,
    '--containerd-plugins-namespace', `${tag}-p`,
    '--cgroup-parent', `/${tag}`,
  ];
  for (const [name, path] of Object.entries(options.runtimes ?? {})) args.push('--add-runtime', `${name}=${path}`);
  for (const registry of options.insecureRegistries ?? []) args.push('--insecure-registry', registry);
  args.push(...(options.extraArgs ?? []));

  const proc = startLogged(DOCKERD_BIN, args, join(dir, 'dockerd.log'));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: cliConfig };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  const docker = (cliArgs: string[], o: { input?: string | Buffer; timeoutMs?: number } = {}) =>
    run(DOCKER_CLI, ['-H', host, ...cliArgs], { env, ...o });
  const dockerOk = (cliArgs: string[], o: { input?: string | Buffer; timeoutMs?: number } = {}) =>
    runOk(DOCKER_CLI, ['-H', host, ...cliArgs], { env, ...o });

  const unregister = onExitCleanup(() => killAndRemoveSync(proc.pid, dir));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    unregister();
    if (proc.isRunning() && existsSync(socket)) {
      // Remove containers through the daemon first so containerd tears down shims, mounts and cgroups.
      const ids = await docker(['ps', '-aq'], { timeoutMs: 30_000 }).catch(() => undefined);
      const list = ids?.stdout.split('\n').filter(Boolean) ?? [];
      if (list.length) await docker(['rm', '-f', ...list], { timeoutMs: 60_000 }).catch(() => undefined);
    }
    await stopProcess(proc, 20_000);
    // The managed containerd and any shim carry our temp dir in their command line.
    await killPids(pidsReferencing(dir));
    await removeCgroups(tag);
    await removeTempDir(dir);
  };

  try {
    await waitUntil(`dockerd on ${socket}`, () => ping(socket), { proc, timeoutMs: 60_000 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, host, dir, dataRoot, pid: proc.pid, env, docker, dockerOk, stop };
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Remove /sys/fs/cgroup/<hierarchy>/<tag> (and empty children) in every hierarchy. */
async function removeCgroups(tag: string): Promise<void> {
  let hierarchies: string[] = [];
  try {
    hierarchies = (await readdir('/sys/fs/cgroup')).map((h) => join('/sys/fs/cgroup', h));
  } catch {
    return;
  }
  for (const hierarchy of hierarchies) {
    const root = join(hierarchy, tag);
    if (!existsSync(root)) continue;
    await removeCgroupTree(root);
  }
}

async function removeCgroupTree(path: string): Promise<void> {
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.isDirectory()) await removeCgroupTree(join(path, entry.name));
  await rmdir(path).catch(() => {});
}

/** For tests: mounts still present under a stopped dockerd's dir (should be none). */
export { mountsUnder };
