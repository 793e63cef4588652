import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { CopySnapshotter } from './copy.ts';
import { OverlaySnapshotter } from './overlay.ts';
import { mountAll, unmount } from './mount.ts';
import { OVERLAY_OPAQUE_XATTR, getXattr, writeXattrs } from './fs-util.ts';
import type { DirSnapshotter } from './base.ts';

export type SnapshotterName = 'overlayfs' | 'native';

const detected = new Map<string, boolean>();

/**
 * Can overlayfs be used with layer dirs under `dir`? Tried once for real: a
 * throwaway overlay with an opaque lower dir is mounted and read back (this
 * catches a missing module, a data root that is itself on overlayfs, and a
 * filesystem without trusted.* xattrs).
 */
export async function overlaySupported(dir: string): Promise<boolean> {
  const cached = detected.get(dir);
  if (cached !== undefined) return cached;
  // overlay's option syntax cannot carry these in lowerdir/upperdir paths
  if (/[,:\\]/.test(dir)) return false;
  await mkdir(dir, { recursive: true });
  const probe = await mkdtemp(join(dir, 'overlay-probe-'));
  let ok = false;
  try {
    for (const d of ['l1', 'l2/x', 'upper', 'work', 'merged']) await mkdir(join(probe, d), { recursive: true });
    await writeXattrs(join(probe, 'l2/x'), new Map([[OVERLAY_OPAQUE_XATTR, Buffer.from('y')]]), 'overlay probe');
    if ((await getXattr(join(probe, 'l2/x'), OVERLAY_OPAQUE_XATTR))?.toString() === 'y') {
      const merged = join(probe, 'merged');
      await mountAll([{ type: 'overlay', source: 'overlay', options: [`workdir=${join(probe, 'work')}`, `upperdir=${join(probe, 'upper')}`, `lowerdir=${join(probe, 'l2')}:${join(probe, 'l1')}`] }], merged);
      ok = true;
      await unmount(merged).catch(() => unmount(merged, { lazy: true }));
    }
  } catch {
    ok = false;
  } finally {
    await rm(probe, { recursive: true, force: true }).catch(() => {});
  }
  detected.set(dir, ok);
  return ok;
}

export interface OpenSnapshotterOptions {
  /** <dataRoot>/snapshots holds everything. */
  dataRoot: string;
  /** 'auto' (default): what the data root was made with, else overlayfs if it works here, else native. */
  driver?: SnapshotterName | 'auto';
}

/** Open (and recover) the data root's snapshotter. */
export async function openSnapshotter(options: OpenSnapshotterOptions): Promise<DirSnapshotter> {
  const root = join(options.dataRoot, 'snapshots');
  await mkdir(root, { recursive: true });
  const recorded = await readFile(join(root, 'driver'), 'utf8').then((s) => s.trim() as SnapshotterName, () => undefined);
  const wanted = options.driver ?? 'auto';
  let name: SnapshotterName;
  if (recorded) {
    if (wanted !== 'auto' && wanted !== recorded) {
      throw new BerthError('BERTH_SNAPSHOT_DRIVER', `data root ${options.dataRoot} holds ${recorded} snapshots; it cannot be opened with the ${wanted} snapshotter`, { status: 400 });
    }
    name = recorded;
  } else if (wanted !== 'auto') {
    name = wanted;
  } else {
    name = (await overlaySupported(root)) ? 'overlayfs' : 'native';
  }
  if (name === 'overlayfs' && !(await overlaySupported(root))) {
    throw new BerthError('BERTH_SNAPSHOT_DRIVER', `overlayfs does not work under ${root} (no overlay module, a data root on a filesystem overlay cannot use, or a path with ',' ':' or '\\' that overlay options cannot carry)`);
  }
  if (!recorded) await writeFileAtomic(join(root, 'driver'), `${name}\n`);
  const s = name === 'overlayfs' ? new OverlaySnapshotter(root) : new CopySnapshotter(root);
  return s.open();
}
