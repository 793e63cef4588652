import { writeFile, mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../tmp.ts';
import { freePort, startLogged, stopProcess, waitUntil, onExitCleanup, killAndRemoveSync } from './process.ts';

/**
 * Debian's docker-registry (distribution 2.8) on 127.0.0.1:<free port>, with
 * its storage in a temp dir; started and stopped by PID.
 */
export interface DockerRegistryOptions {
  /** Users and plain passwords; turns on htpasswd (Basic) auth. */
  htpasswd?: Record<string, string>;
}

export interface DockerRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, the form image references use. */
  host: string;
  port: number;
  /** Temp dir holding config, storage (storage/) and log (registry.log). */
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

export async function startDockerRegistry(options: DockerRegistryOptions = {}): Promise<DockerRegistry> {
  const dir = await makeTempDir('berth-peer-registry-');
  try {
    const storage = join(dir, 'storage');
    await mkdir(storage);
    const port = await freePort();
    let auth = '';
    if (options.htpasswd) {
      const lines = Object.entries(options.htpasswd).map(([user, password]) => `${user}:${bcrypt(password)}`);
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      auth = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
    }
    const config =
      `version: 0.1\n` +
      `log:\n  level: warn\n  accesslog:\n    disabled: true\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString('hex')}\n` +
      auth;
    await writeFile(join(dir, 'config.yml'), config);
    const proc = startLogged(DOCKER_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
    const url = `http://127.0.0.1:${port}`;
    const unregister = onExitCleanup(() => killAndRemoveSync(proc.pid, dir));
    const stop = async () => {
      unregister();
      await stopProcess(proc);
      await removeTempDir(dir);
    };
    try {
      // /v2/ answers 200, or 401 with auth on: either way the registry is serving.
      await waitUntil(`docker-registry on ${url}`, async () => {
        const res = await fetch(`${url}/v2/`);
        await res.arrayBuffer();
        return res.status === 200 || res.status === 401;
      }, { proc });
    } catch (err) {
      await stop();
      throw err;
    }
    return { url, host: `127.0.0.1:${port}`, port, dir, pid: proc.pid, stop };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}

/**
 * htpasswd wants bcrypt; libxcrypt (libcrypt1 on Debian 12) implements $2b$,
 * and perl's crypt() calls it, so no npm package or apache2-utils is needed.
 */
function bcrypt(password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = Array.from(randomBytes(22), (b) => alphabet[b % 64]).join('');
  const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`], { encoding: 'utf8' });
  if (!hash.startsWith('$2b$')) throw new Error('libcrypt did not produce a bcrypt hash for htpasswd');
  return hash;
}
