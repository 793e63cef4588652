import { execFile } from 'node:child_process';
import { BerthError } from '../common/errors.ts';
import { DirSnapshotter } from './base.ts';
import type { Mount, SnapshotDirs, SnapshotInfo, SnapshotKind } from './types.ts';

/**
 * The copying fallback (containerd's "native"): every snapshot is a full
 * tree; prepare and view copy the parent's tree (cp -a, which keeps owners,
 * modes, times, xattrs, hardlinks and device nodes, and reflinks where the
 * filesystem can); mounts are binds. For hosts without overlayfs.
 */
export class CopySnapshotter extends DirSnapshotter {
  readonly name = 'native' as const;
  readonly independentLayers = false;

  protected async populate(_kind: Exclude<SnapshotKind, 'committed'>, tmp: string, chain: SnapshotInfo[]): Promise<void> {
    const parent = chain[0];
    if (!parent) return;
    await copyTree(this.fsDir(parent.id), `${tmp}/fs`);
  }

  protected mountsOf(info: SnapshotInfo): Mount[] {
    return [{ type: 'bind', source: this.fsDir(info.id), options: [info.kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
  }

  protected dirsOf(info: SnapshotInfo, chain: SnapshotInfo[]): SnapshotDirs {
    const out: SnapshotDirs = { dir: this.fsDir(info.id), whiteouts: 'delete', lowers: [] };
    if (chain[0]) out.parentTree = this.fsDir(chain[0].id);
    return out;
  }
}

/** cp -a of a tree's contents into an existing empty dir (the dir itself takes the source's metadata). */
export function copyTree(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('cp', ['-a', '--reflink=auto', '--', `${src}/.`, `${dst}/`], { maxBuffer: 4 * 1024 * 1024 }, (err, _out, stderr) => {
      if (err) reject(new BerthError('BERTH_SNAPSHOT_COPY', `copying snapshot tree ${src} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}
