import type { Readable } from 'node:stream';
import { RootFs, tarReadable, treeEntries } from './archive.ts';

/**
 * `docker export` (GET /containers/{id}/export): the container's whole
 * filesystem as one uncompressed tar, as Docker writes it — names relative to
 * the root without a leading "./" and without an entry for the root itself,
 * numeric owners, permission bits (setuid/setgid/sticky included), mtimes in
 * seconds, symlinks, hardlinks (a link entry to the first name), device nodes
 * and fifos; sockets are left out (tar cannot hold them).
 *
 * `rootfs` is where the container's filesystem is visible: its mounted overlay
 * (what Docker exports, so volumes and /proc are not in it), or
 * /proc/<pid>/root. Directories that are mount points of another filesystem
 * (/proc, /sys, /dev, binds and volumes seen through /proc/<pid>/root) are
 * kept as directories but their contents are not exported.
 *
 * The tree is read with the same in-root walk as `docker cp` (archive.ts):
 * nothing outside the rootfs is read even while the container changes it.
 */
export async function exportContainer(rootfs: string): Promise<Readable> {
  const fs = await RootFs.open(rootfs);
  const entries = treeEntries(fs.root, { includeRoot: false, nameOf: (rel) => rel, skipOtherMounts: true });
  return tarReadable(entries, () => fs.close());
}
