import { lstat, mkdir, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../common/errors.ts';
import { fsyncDir, writeJsonAtomic } from '../common/atomic-write.ts';
import type { CommitOptions, Mount, SnapshotDirs, SnapshotInfo, SnapshotKind, SnapshotOptions, Snapshotter, Usage } from './types.ts';

/**
 * What both snapshotters share: metadata and directory bookkeeping.
 *
 * On disk (root = <dataRoot>/snapshots):
 *   meta/<encoded key>.json   one small JSON per snapshot (SnapshotInfo)
 *   <id>/fs                   the snapshot's files (overlay: layer / upperdir; copy: full tree)
 *   <id>/work                 overlay workdir of an active snapshot
 *   new-<random>/             a snapshot being made; renamed to <id> when complete
 *
 * Crash safety: a snapshot's directory is made under a temporary name,
 * renamed to its id, and only then is its metadata written (atomically), so
 * a crash leaves either nothing visible or a complete snapshot; open()
 * removes half-made directories and directories no metadata points at.
 * Metadata changes are serialised in-process (berthd owns the data root).
 */
export abstract class DirSnapshotter implements Snapshotter {
  abstract readonly name: 'overlayfs' | 'native';
  abstract readonly independentLayers: boolean;
  readonly root: string;
  private readonly metaDir: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** Keys being made right now (their directory is still being filled). */
  private readonly creating = new Set<string>();
  /** Parents of snapshots being made (not removable meanwhile), with counts. */
  private readonly creatingOn = new Map<string, number>();

  constructor(root: string) {
    this.root = root;
    this.metaDir = join(root, 'meta');
  }

  /** Make the layout and clean what a crash left behind. */
  async open(): Promise<this> {
    await mkdir(this.metaDir, { recursive: true });
    await this.locked(async () => {
      const infos = await this.readAll();
      const ids = new Map<string, SnapshotInfo[]>();
      for (const info of infos) ids.set(info.id, [...(ids.get(info.id) ?? []), info]);
      // A commit interrupted between writing the committed record and removing the active one.
      for (const [, same] of ids) {
        if (same.length > 1 && same.some((i) => i.kind === 'committed')) {
          for (const i of same) if (i.kind !== 'committed') await unlink(this.metaPath(i.key)).catch(() => {});
        }
      }
      for (const name of await readdir(this.root)) {
        if (name === 'meta' || name === 'driver') continue;
        if (name.startsWith('new-') || (/^\d+$/.test(name) && !ids.has(name))) {
          await rm(join(this.root, name), { recursive: true, force: true });
        }
      }
      for (const info of infos) {
        if (!(await exists(join(this.root, info.id)))) await unlink(this.metaPath(info.key)).catch(() => {});
      }
    });
    return this;
  }

  protected fsDir(id: string): string {
    return join(this.root, id, 'fs');
  }

  protected workDir(id: string): string {
    return join(this.root, id, 'work');
  }

  private metaPath(key: string): string {
    if (key === '' || key.length > 1024) throw new BerthError('BERTH_SNAPSHOT_INVALID_KEY', `snapshot key "${key.slice(0, 80)}" must be 1..1024 characters`, { status: 400 });
    let file = encodeURIComponent(key).replace(/\./g, '%2E');
    // Long keys: keep a readable head and make the name unique with a hash of the whole.
    if (file.length > 200) file = `${file.slice(0, 120)}~${hashKey(key)}`;
    return join(this.metaDir, `${file}.json`);
  }

  /** Run metadata changes one at a time. */
  protected locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async readAll(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await readdir(this.metaDir)) {
      if (!name.endsWith('.json')) {
        if (name.includes('.tmp')) await unlink(join(this.metaDir, name)).catch(() => {});
        continue;
      }
      try {
        out.push(JSON.parse(await readFile(join(this.metaDir, name), 'utf8')) as SnapshotInfo);
      } catch {
        // an unreadable record (a torn write cannot happen with atomic writes; a hand edit can): ignore it
      }
    }
    return out;
  }

  async find(key: string): Promise<SnapshotInfo | undefined> {
    try {
      return JSON.parse(await readFile(this.metaPath(key), 'utf8')) as SnapshotInfo;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const info = await this.find(key);
    if (!info) throw new BerthError('BERTH_SNAPSHOT_NOT_FOUND', `snapshot "${key}" does not exist`, { status: 404 });
    return info;
  }

  async list(): Promise<SnapshotInfo[]> {
    return (await this.readAll()).sort((a, b) => a.key.localeCompare(b.key));
  }

  async *walk(): AsyncIterable<SnapshotInfo> {
    for (const info of await this.list()) yield info;
  }

  /** Committed chain from `key` down to the base, `key` first. */
  protected async chain(key: string | undefined): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    const seen = new Set<string>();
    while (key !== undefined) {
      if (seen.has(key)) throw new BerthError('BERTH_SNAPSHOT_CORRUPT', `snapshot parent chain loops at "${key}"`);
      seen.add(key);
      const info = await this.stat(key);
      out.push(info);
      key = info.parent;
    }
    return out;
  }

  private async create(kind: Exclude<SnapshotKind, 'committed'>, key: string, parent: string | undefined, options: SnapshotOptions): Promise<Mount[]> {
    const checkFree = async () => {
      if (this.creating.has(key) || (await this.find(key))) throw new BerthError('BERTH_SNAPSHOT_EXISTS', `snapshot "${key}" already exists`, { status: 409 });
      if (parent !== undefined) {
        const p = await this.stat(parent);
        if (p.kind !== 'committed') throw new BerthError('BERTH_SNAPSHOT_INVALID_PARENT', `parent "${parent}" of snapshot "${key}" is not committed (it is ${p.kind})`, { status: 400 });
      }
    };
    const hold = (d: number) => {
      if (parent === undefined) return;
      const n = (this.creatingOn.get(parent) ?? 0) + d;
      if (n > 0) this.creatingOn.set(parent, n);
      else this.creatingOn.delete(parent);
    };
    await this.locked(async () => {
      await checkFree();
      this.creating.add(key);
      hold(1);
    });
    const tmp = join(this.root, `new-${randomBytes(6).toString('hex')}`);
    let info: SnapshotInfo;
    try {
      // Filling the snapshot (a whole tree copy for the copying snapshotter) runs outside the lock.
      await mkdir(tmp);
      await mkdir(join(tmp, 'fs'), { mode: 0o755 });
      await this.populate(kind, tmp, await this.chain(parent));
      info = await this.locked(async () => {
        this.creating.delete(key);
        hold(-1);
        await checkFree();
        const id = await this.allocateId(tmp);
        const now = new Date().toISOString();
        const made: SnapshotInfo = { key, kind, id, created: now, updated: now, labels: { ...(options.labels ?? {}) } };
        if (parent !== undefined) made.parent = parent;
        await writeJsonAtomic(this.metaPath(key), made);
        return made;
      });
    } catch (err) {
      if (this.creating.delete(key)) hold(-1);
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return this.mountsOf(info, await this.chain(info.parent));
  }

  /** Rename a finished temp dir to the next free numeric id (ids stay short: overlay's mount options are limited to a page). */
  private async allocateId(tmp: string): Promise<string> {
    let next = 1;
    for (const name of await readdir(this.root)) if (/^\d+$/.test(name)) next = Math.max(next, Number(name) + 1);
    for (;;) {
      const id = String(next++);
      try {
        await mkdir(join(this.root, id)); // claim
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      await rm(join(this.root, id), { recursive: true });
      await rename(tmp, join(this.root, id));
      await fsyncDir(this.root);
      return id;
    }
  }

  prepare(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.create('active', key, parent, options);
  }

  view(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.create('view', key, parent, options);
  }

  async mounts(key: string): Promise<Mount[]> {
    const info = await this.stat(key);
    if (info.kind === 'committed') {
      throw new BerthError('BERTH_SNAPSHOT_NOT_ACTIVE', `snapshot "${key}" is committed: prepare or view a snapshot on top of it to mount it`, { status: 400 });
    }
    return this.mountsOf(info, await this.chain(info.parent));
  }

  async commit(name: string, key: string, options: CommitOptions = {}): Promise<void> {
    await this.locked(async () => {
      const info = await this.stat(key);
      if (info.kind !== 'active') throw new BerthError('BERTH_SNAPSHOT_NOT_ACTIVE', `snapshot "${key}" is ${info.kind}, only active snapshots can be committed`, { status: 400 });
      if (await this.find(name)) throw new BerthError('BERTH_SNAPSHOT_EXISTS', `snapshot "${name}" already exists`, { status: 409 });
      let parent = info.parent;
      if (options.parent !== undefined) {
        if (!this.independentLayers) throw new BerthError('BERTH_SNAPSHOT_INVALID_PARENT', `the ${this.name} snapshotter cannot give a snapshot a parent at commit time`, { status: 400 });
        if (info.parent !== undefined && info.parent !== options.parent) {
          throw new BerthError('BERTH_SNAPSHOT_INVALID_PARENT', `snapshot "${key}" already has parent "${info.parent}"`, { status: 400 });
        }
        const p = await this.stat(options.parent);
        if (p.kind !== 'committed') throw new BerthError('BERTH_SNAPSHOT_INVALID_PARENT', `parent "${options.parent}" is not committed`, { status: 400 });
        parent = options.parent;
      }
      await this.beforeCommit(info);
      const now = new Date().toISOString();
      const committed: SnapshotInfo = { key: name, kind: 'committed', id: info.id, created: now, updated: now, labels: { ...info.labels, ...(options.labels ?? {}) } };
      if (parent !== undefined) committed.parent = parent;
      await writeJsonAtomic(this.metaPath(name), committed);
      await unlink(this.metaPath(key));
      await fsyncDir(this.metaDir);
    });
  }

  async remove(key: string): Promise<void> {
    await this.locked(async () => {
      const info = await this.stat(key);
      const child = (await this.readAll()).find((i) => i.parent === key);
      if (child) throw new BerthError('BERTH_SNAPSHOT_IN_USE', `snapshot "${key}" is the parent of "${child.key}"; remove that first`, { status: 409 });
      if (this.creatingOn.has(key)) throw new BerthError('BERTH_SNAPSHOT_IN_USE', `snapshot "${key}" is the parent of a snapshot being made`, { status: 409 });
      await this.beforeRemove(info);
      // Metadata first: a crash after it leaves an orphan dir that open() removes.
      await unlink(this.metaPath(key));
      await fsyncDir(this.metaDir);
      const trash = join(this.root, `new-${randomBytes(6).toString('hex')}`);
      await rename(join(this.root, info.id), trash).catch(() => {});
      // The snapshot is gone once its record is; its files go after the
      // caller has moved on (open() removes new-* left by a crash).
      const p = rm(trash, { recursive: true, force: true }).catch(() => {});
      this.deleting.add(p);
      void p.finally(() => this.deleting.delete(p));
    });
  }

  /** Deletions still running in the background (see remove). */
  private readonly deleting = new Set<Promise<void>>();

  /** Wait for background deletions (shutdown, tests that measure the disk). */
  async settle(): Promise<void> {
    await Promise.all([...this.deleting]);
  }

  /**
   * Disk usage of the snapshot's own directory. A committed snapshot never
   * changes, so its figure is measured once and kept in its metadata (as
   * containerd does); active ones are measured each time.
   */
  async usage(key: string): Promise<Usage> {
    const info = await this.stat(key);
    if (info.kind === 'committed' && info.usage) return info.usage;
    const usage = await diskUsage(this.fsDir(info.id));
    if (info.kind === 'committed') {
      await this.locked(async () => {
        const now = await this.find(key);
        if (now && now.id === info.id) await writeJsonAtomic(this.metaPath(key), { ...now, usage });
      });
    }
    return usage;
  }

  async dirs(key: string): Promise<SnapshotDirs> {
    const info = await this.stat(key);
    return this.dirsOf(info, await this.chain(info.parent));
  }

  /** Fill a new snapshot's temp dir (`tmp/fs` exists) from its parent chain (parent first). */
  protected abstract populate(kind: Exclude<SnapshotKind, 'committed'>, tmp: string, chain: SnapshotInfo[]): Promise<void>;
  protected abstract mountsOf(info: SnapshotInfo, chain: SnapshotInfo[]): Mount[];
  protected abstract dirsOf(info: SnapshotInfo, chain: SnapshotInfo[]): SnapshotDirs;
  protected async beforeCommit(_info: SnapshotInfo): Promise<void> {}
  protected async beforeRemove(_info: SnapshotInfo): Promise<void> {}
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/**
 * Bytes on disk (allocated blocks, hardlinks counted once) and inodes under
 * a dir: du(1) does it in C in a fraction of the time of an lstat walk from
 * JS; the walk remains for hosts without GNU du.
 */
export async function diskUsage(dir: string): Promise<Usage> {
  try {
    const [bytes, inodes] = await Promise.all([du(['-s', '-B1', dir]), du(['-s', '--inodes', dir])]);
    return { size: bytes, inodes };
  } catch {
    return walkUsage(dir);
  }
}

function du(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('du', args, (err, stdout) => {
      const n = Number(String(stdout).split('\t')[0]);
      if (err || !Number.isFinite(n)) reject(err ?? new Error(`du ${args.join(' ')}: unexpected output`));
      else resolve(n);
    });
  });
}

async function walkUsage(dir: string): Promise<Usage> {
  let size = 0;
  let inodes = 0;
  const seen = new Set<string>();
  async function walk(path: string): Promise<void> {
    const st = await lstat(path);
    const ino = `${st.dev}:${st.ino}`;
    if (seen.has(ino)) return;
    seen.add(ino);
    inodes++;
    size += st.blocks * 512;
    if (st.isDirectory()) for (const n of await readdir(path)) await walk(join(path, n));
  }
  await walk(dir);
  return { size, inodes };
}
