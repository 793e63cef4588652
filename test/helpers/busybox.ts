import { mkdir, copyFile, symlink, writeFile, chmod } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Base images are made offline from Debian's busybox-static package
 * (/bin/busybox, installed by scripts/setup.sh): a statically linked busybox
 * and a symlink per applet, the minimum /etc, and the usual empty mount points.
 */
export const BUSYBOX = '/bin/busybox';

export function busyboxApplets(): string[] {
  return execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
}

export async function makeBusyboxRootfs(dir: string): Promise<void> {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home', 'var', 'usr/bin', 'usr/sbin', 'sbin']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile(BUSYBOX, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const applet of busyboxApplets()) {
    await symlink('busybox', join(dir, 'bin', applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** A rootfs tarball (uncompressed) of the busybox tree, as `berth import` takes. */
export async function makeBusyboxTar(workDir: string, tarPath: string): Promise<void> {
  const rootfs = join(workDir, 'busybox-rootfs');
  await makeBusyboxRootfs(rootfs);
  execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarPath, '.']);
}
