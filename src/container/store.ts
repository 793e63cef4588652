/**
 * Container records on disk: <dataRoot>/containers/<id>/container.json,
 * written atomically on every state change, so berthd rebuilds its whole view
 * from disk when it starts. Lookup by full id, unique id prefix or name, with
 * Docker's rules and errors.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeJsonAtomic } from '../common/atomic-write.ts';
import { BerthError, conflict, invalidArgument, notFound } from '../common/errors.ts';
import type { ContainerConfig, HealthState, HostConfig } from '../api/container-types.ts';
import type { MountRecord } from './mounts.ts';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Set once the container has run with a health check (health.ts); kept after it stops. */
  Health?: HealthState;
}

export interface ContainerRecord {
  Id: string;
  /** Docker keeps the leading slash: "/name". */
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  HostConfig: HostConfig;
  /** The image ID (config digest) the container was created from. */
  Image: string;
  State: ContainerState;
  RestartCount: number;
  /** Snapshot key of the container's writable layer. */
  SnapshotKey: string;
  /** Monitor pid while running (for reconnect after a berthd restart). */
  MonitorPid: number;
  /** Set by `docker stop`/`kill` so restart policies know the user asked. */
  StoppedByUser?: boolean;
  Platform: string;
  Driver: string;
  /** The user mounts of the last start, as `docker inspect` shows them under .Mounts. */
  MountPoints?: MountRecord[];
  /** Anonymous volumes the container created (removed with `rm -v`). */
  AnonymousVolumes?: string[];
  LogPath: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
  };
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw invalidArgument(
      'BERTH_CONTAINER_BAD_NAME',
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  return name.startsWith('/') ? name : `/${name}`;
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nimble', 'quiet', 'sharp', 'steady', 'witty'];
const NOUNS = ['anchor', 'bollard', 'buoy', 'cleat', 'dock', 'harbor', 'jetty', 'keel', 'mooring', 'pier', 'quay', 'wharf'];

export class ContainerStore {
  readonly root: string;
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  private constructor(root: string) {
    this.root = root;
  }

  static async open(dataRoot: string): Promise<ContainerStore> {
    const store = new ContainerStore(join(dataRoot, 'containers'));
    await mkdir(store.root, { recursive: true });
    for (const id of await readdir(store.root)) {
      // A removal renames the directory to .trash-* and deletes it after answering.
      if (id.startsWith('.trash-')) {
        await rm(join(store.root, id), { recursive: true, force: true });
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      try {
        const rec = JSON.parse(await readFile(join(store.root, id, 'container.json'), 'utf8')) as ContainerRecord;
        store.byId.set(rec.Id, rec);
        store.byName.set(rec.Name, rec.Id);
      } catch {
        // A directory without a record is a create that crashed half-way:
        // nothing references it, so it is removed.
        await rm(join(store.root, id), { recursive: true, force: true });
      }
    }
    return store;
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  newId(): string {
    for (;;) {
      const id = randomBytes(32).toString('hex');
      // Docker avoids ids that look like numbers in their short form.
      if (/^\d+$/.test(id.slice(0, 12))) continue;
      if (!this.byId.has(id)) return id;
    }
  }

  generateName(): string {
    for (let i = 0; ; i++) {
      const a = ADJECTIVES[randomBytes(1)[0]! % ADJECTIVES.length]!;
      const n = NOUNS[randomBytes(1)[0]! % NOUNS.length]!;
      const name = `/${a}_${n}${i > 5 ? randomBytes(2).readUInt16BE() : ''}`;
      if (!this.byName.has(name)) return name;
    }
  }

  /** Reserve a name; 409 if taken, as Docker answers. */
  claimName(name: string, id: string): void {
    const owner = this.byName.get(name);
    if (owner && owner !== id) {
      throw conflict(
        'BERTH_CONTAINER_NAME_IN_USE',
        `Conflict. The container name "${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.byName.set(name, id);
  }

  releaseName(name: string): void {
    this.byName.delete(name);
  }

  /**
   * Persist a record. The first write of a container is flushed to disk;
   * state changes after it are atomic but not fsynced (see AtomicWriteOptions):
   * what runs is found again from the monitors after a restart anyway.
   */
  async save(rec: ContainerRecord): Promise<void> {
    const known = this.byId.has(rec.Id);
    await mkdir(this.dir(rec.Id), { recursive: true });
    await writeJsonAtomic(join(this.dir(rec.Id), 'container.json'), rec, { durable: !known });
    this.byId.set(rec.Id, rec);
    this.byName.set(rec.Name, rec.Id);
  }

  /** Deletions still running in the background (see delete). */
  private readonly deleting = new Set<Promise<void>>();

  /**
   * Forget the container and remove its directory: renamed out of the way at
   * once (the container is gone for everyone from here), its files deleted
   * after the caller has moved on; a crash meanwhile leaves a .trash-*
   * directory that open() removes.
   */
  async delete(id: string): Promise<void> {
    const rec = this.byId.get(id);
    if (rec) this.byName.delete(rec.Name);
    this.byId.delete(id);
    const trash = join(this.root, `.trash-${id.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.dir(id), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await rm(this.dir(id), { recursive: true, force: true });
      return;
    }
    const p = rm(trash, { recursive: true, force: true }).catch(() => {});
    this.deleting.add(p);
    void p.finally(() => this.deleting.delete(p));
  }

  /** Wait for background deletions (berthd's shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.deleting]);
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** By full id, name (with or without "/"), or unique id prefix. */
  find(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.byName.get(ref.startsWith('/') ? ref : `/${ref}`);
    if (byName) return this.byId.get(byName);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
    if (matches.length > 1) {
      throw new BerthError('BERTH_CONTAINER_AMBIGUOUS', `multiple IDs found with provided prefix: ${ref}`, { status: 400 });
    }
    return matches.length === 1 ? this.byId.get(matches[0]!) : undefined;
  }

  get(ref: string): ContainerRecord {
    const rec = this.find(ref);
    if (!rec) throw notFound('BERTH_CONTAINER_NOT_FOUND', `No such container: ${ref}`);
    return rec;
  }
}
