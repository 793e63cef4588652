import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DirSnapshotter } from './base.ts';
import type { Mount, SnapshotDirs, SnapshotInfo, SnapshotKind } from './types.ts';

/**
 * overlayfs snapshotter, as containerd's: every snapshot owns one directory
 * (<id>/fs); a committed snapshot's fs is one layer, read-only by
 * convention; an active snapshot's fs is its overlay upperdir (with <id>/work
 * as workdir) over the lowerdirs of its parent chain. Nothing is copied, so
 * a layer can even be unpacked before the layers below it exist
 * (independentLayers) and be given its parent when committed.
 */
export class OverlaySnapshotter extends DirSnapshotter {
  readonly name = 'overlayfs' as const;
  readonly independentLayers = true;

  protected async populate(kind: Exclude<SnapshotKind, 'committed'>, tmp: string, chain: SnapshotInfo[]): Promise<void> {
    if (kind === 'active' && chain.length > 0) await mkdir(join(tmp, 'work'), { mode: 0o700 });
  }

  protected mountsOf(info: SnapshotInfo, chain: SnapshotInfo[]): Mount[] {
    const lowers = chain.map((c) => this.fsDir(c.id));
    if (info.kind === 'view') {
      if (lowers.length === 0) return [{ type: 'bind', source: this.fsDir(info.id), options: ['ro', 'rbind'] }];
      // overlay needs two lowers when it has no upper; one layer is simply bound
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['ro', 'rbind'] }];
      return [{ type: 'overlay', source: 'overlay', options: ['ro', `lowerdir=${lowers.join(':')}`] }];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: this.fsDir(info.id), options: ['rw', 'rbind'] }];
    return [{
      type: 'overlay',
      source: 'overlay',
      options: [`workdir=${this.workDir(info.id)}`, `upperdir=${this.fsDir(info.id)}`, `lowerdir=${lowers.join(':')}`],
    }];
  }

  protected dirsOf(info: SnapshotInfo, chain: SnapshotInfo[]): SnapshotDirs {
    return { dir: this.fsDir(info.id), whiteouts: 'overlay', lowers: chain.map((c) => this.fsDir(c.id)) };
  }

  /** A committed layer has no workdir (overlay leaves its own files there). */
  protected override async beforeCommit(info: SnapshotInfo): Promise<void> {
    await rm(this.workDir(info.id), { recursive: true, force: true });
  }
}
