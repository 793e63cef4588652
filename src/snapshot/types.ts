import type { WhiteoutMode } from './apply.ts';

/**
 * The snapshotter contract, modelled on containerd's core/snapshots: a tree
 * of snapshots addressed by key, each either committed (read-only, a parent
 * for others), active (writable, from prepare) or a view (read-only, from
 * view). Active snapshots become committed ones by commit(name, key).
 * Implementations: overlayfs (overlay.ts) and a copying fallback (copy.ts),
 * both checked by one conformance suite.
 */
export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  /** The key (active/view) or name (committed) it is addressed by. */
  key: string;
  kind: SnapshotKind;
  /** Key of the committed parent, if any. */
  parent?: string;
  /** Internal directory id (snapshots/<id>/). */
  id: string;
  /** RFC 3339. */
  created: string;
  updated: string;
  labels: Record<string, string>;
  /** Measured disk usage of a committed snapshot (filled in by usage()). */
  usage?: Usage;
}

/** A mount as containerd describes it (mount(8) type, source, options). */
export interface Mount {
  type: 'overlay' | 'bind';
  source: string;
  options: string[];
}

export interface Usage {
  /** Bytes on disk of this snapshot's own data (not its parents'). */
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface CommitOptions extends SnapshotOptions {
  /**
   * Give an active snapshot that was prepared without a parent its parent at
   * commit time. Only where `independentLayers` is true (overlay): a layer
   * can then be unpacked into its own directory before the layers below it
   * are done, and stacked under its chain when it is committed.
   */
  parent?: string;
}

/** Where and how a layer diff is applied to, or read from, a snapshot. */
export interface SnapshotDirs {
  /** The directory this snapshot writes: overlay upperdir, or the copy's full tree. */
  dir: string;
  /** How whiteouts are represented in `dir`. */
  whiteouts: WhiteoutMode;
  /** overlay: the parent chain's layer dirs, topmost first; copy: empty. */
  lowers: string[];
  /** copy: the parent's full tree (to compare against); overlay: undefined. */
  parentTree?: string;
}

export interface Snapshotter {
  /** 'overlayfs' or 'native' (the copying one), as containerd names them. */
  readonly name: 'overlayfs' | 'native';
  /** True when a layer can be unpacked into an empty dir without its parent's files (see CommitOptions.parent). */
  readonly independentLayers: boolean;
  stat(key: string): Promise<SnapshotInfo>;
  /** Undefined instead of BERTH_SNAPSHOT_NOT_FOUND. */
  find(key: string): Promise<SnapshotInfo | undefined>;
  usage(key: string): Promise<Usage>;
  /** Mounts of an active snapshot or view; BERTH_SNAPSHOT_NOT_ACTIVE for committed ones. */
  mounts(key: string): Promise<Mount[]>;
  /** New writable snapshot on top of committed `parent`; BERTH_SNAPSHOT_EXISTS if key is taken. */
  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** New read-only snapshot of committed `parent`. */
  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** Turn active `key` into committed `name`; the key is gone afterwards. */
  commit(name: string, key: string, options?: CommitOptions): Promise<void>;
  /** Remove a snapshot; BERTH_SNAPSHOT_IN_USE if others have it as parent. Its files may be deleted after it resolves (see settle). */
  remove(key: string): Promise<void>;
  /** Resolves when files of removed snapshots are deleted from the disk. */
  settle(): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
  /** containerd's walk, as an async iterator. */
  walk(): AsyncIterable<SnapshotInfo>;
  /** Directories behind a snapshot, for unpack (apply.ts) and diff (diff.ts). */
  dirs(key: string): Promise<SnapshotDirs>;
}
