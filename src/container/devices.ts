/**
 * Host devices for a container: `--device` (HostConfig.Devices) and, with
 * --privileged, every device node of the host's /dev, as Docker gives them.
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { LinuxDevice } from '../oci/runtime-spec.ts';
import type { DeviceMapping } from '../api/container-types.ts';
import { invalidArgument } from '../common/errors.ts';

export interface ContainerDevice extends LinuxDevice {
  /** Device cgroup access ("rwm" or a subset). */
  access: string;
}

// glibc's dev_t encoding; the high word by division, since JS shifts are 32-bit.
const high = (rdev: number) => Math.floor(rdev / 2 ** 32);
const major = (rdev: number) => ((rdev >>> 8) & 0xfff) | ((high(rdev) & 0xfffff000) >>> 0);
const minor = (rdev: number) => (rdev & 0xff) | (((rdev >>> 12) & 0xfff00) >>> 0);

function fromStat(path: string, st: import('node:fs').Stats, access: string): ContainerDevice | undefined {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  return { path, type, major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid, access };
}

/** Every node below a host directory, mapped under `target`. */
async function walk(hostDir: string, target: string, access: string, out: ContainerDevice[]): Promise<void> {
  for (const entry of await readdir(hostDir, { withFileTypes: true })) {
    const host = join(hostDir, entry.name);
    const inContainer = posix.join(target, entry.name);
    if (entry.isDirectory()) await walk(host, inContainer, access, out);
    else if (entry.isCharacterDevice() || entry.isBlockDevice()) {
      const d = fromStat(inContainer, await lstat(host), access);
      if (d) out.push(d);
    }
  }
}

export async function resolveDevices(mappings: readonly DeviceMapping[] | null | undefined): Promise<ContainerDevice[]> {
  const out: ContainerDevice[] = [];
  for (const m of mappings ?? []) {
    const host = m.PathOnHost;
    const target = m.PathInContainer || host;
    const access = m.CgroupPermissions || 'rwm';
    if (!/^[rwm]{1,3}$/.test(access)) throw invalidArgument('BERTH_CONTAINER_BAD_DEVICE', `invalid device cgroup permissions "${access}" for ${host}`);
    if (!posix.isAbsolute(target)) throw invalidArgument('BERTH_CONTAINER_BAD_DEVICE', `device ${host}: container path "${target}" must be absolute`);
    let st;
    try {
      st = await stat(host);
    } catch (err) {
      throw invalidArgument('BERTH_CONTAINER_BAD_DEVICE', `error gathering device information while adding custom device "${host}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    if (st.isDirectory()) await walk(host, target, access, out);
    else {
      const d = fromStat(target, st, access);
      if (!d) throw invalidArgument('BERTH_CONTAINER_BAD_DEVICE', `error gathering device information while adding custom device "${host}": not a device node`);
      out.push(d);
    }
  }
  return out;
}

/** --privileged: the host's device nodes directly under /dev (not the per-instance pts, shm or mqueue trees). */
export async function hostDevices(): Promise<ContainerDevice[]> {
  const out: ContainerDevice[] = [];
  for (const entry of await readdir('/dev', { withFileTypes: true })) {
    if (['pts', 'shm', 'mqueue', 'fd'].includes(entry.name)) continue;
    const host = join('/dev', entry.name);
    // Nodes in subdirectories (/dev/cpu/0/…, /dev/input/…) are left out: the
    // launcher creates nodes, not the directories they sit in.
    if (entry.isCharacterDevice() || entry.isBlockDevice()) {
      const d = fromStat(host, await lstat(host), 'rwm');
      // The console and the host's ttys stay the host's.
      if (d && !/^\/dev\/(console|tty\d*|ptmx)$/.test(host)) out.push(d);
    }
  }
  return out;
}
