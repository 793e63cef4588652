/**
 * Volumes: the local driver's store under <dataRoot>/volumes and the service
 * behind Docker's volume endpoints (list with filters, create, inspect,
 * remove, prune), with Docker's rules for names, references and anonymous
 * volumes, plus the image-content copy-up a new volume gets on first use.
 *
 * On disk, one directory per volume: `<name>/_data` (the data) and
 * `<name>/volume.json` (created time, labels, driver options). A volume
 * appears whole or not at all — it is built in a `.tmp-*` directory and
 * renamed in — and disappears by a rename to `.rm-*` before its tree is
 * deleted, so a crash never leaves a half volume under a valid name. Volumes
 * made by older berth versions (a bare `_data`) are read as plain volumes.
 */
import { lstat, mkdir, open, readdir, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { constants as fsConstants, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeJsonAtomic } from '../common/atomic-write.ts';
import { BerthError, conflict, invalidArgument, notFound } from '../common/errors.ts';
import type { EventHub } from '../api/events.ts';
import type { Volume, VolumeCreateOptions, VolumesPruneReport } from '../api/volume-types.ts';
import type { ContainerRecord } from './store.ts';
import { resolveInRoot } from '../runtime/resolve-in-root.ts';
import { badFilter, filterMatches } from '../common/filters.ts';

/** The label Docker puts on the volumes it names itself (`-v /path`, image VOLUMEs, create without a name). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
/** Docker's rule for local volume names. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTION_KEYS = new Set(['type', 'device', 'o', 'size']);

type Events = Pick<EventHub, 'emit'>;

export function invalidVolumeName(name: string): BerthError {
  return invalidArgument(
    'BERTH_VOLUME_BAD_NAME',
    `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
  );
}

/** What a volume's driver options mean: nothing (a plain directory) or a bind of a host directory. */
export type LocalOptions = { kind: 'plain' } | { kind: 'bind'; device: string };

/**
 * The local driver's options (type, device, o). berth mounts nothing on the
 * host, so it supports the plain volume and the bind volume
 * (`type=none,o=bind,device=/path`, compose's usual way to name a host
 * directory); other filesystem types are refused with what is supported.
 */
export function parseLocalOptions(opts: Record<string, string> | null | undefined): LocalOptions {
  const o = opts ?? {};
  for (const key of Object.keys(o)) {
    if (!LOCAL_OPTION_KEYS.has(key)) throw invalidArgument('BERTH_VOLUME_BAD_OPTION', `invalid option key: "${key}"`);
  }
  if (Object.keys(o).length === 0) return { kind: 'plain' };
  if (o.size !== undefined) {
    throw invalidArgument('BERTH_VOLUME_BAD_OPTION', 'quota size requested but no quota support: berth\'s local volumes have no size limit');
  }
  const flags = (o.o ?? '').split(',').filter(Boolean);
  const bind = flags.includes('bind') || flags.includes('rbind');
  const type = o.type ?? '';
  if (bind && (type === 'none' || type === '' || type === 'bind')) {
    const device = o.device ?? '';
    if (!device || !isAbsolute(device)) {
      throw invalidArgument('BERTH_VOLUME_BAD_OPTION', `invalid volume options: a bind volume needs an absolute device path (device=${JSON.stringify(device)})`);
    }
    const extra = flags.filter((f) => !['bind', 'rbind', 'rw', 'ro', 'private', 'rprivate'].includes(f));
    if (extra.length) throw invalidArgument('BERTH_VOLUME_BAD_OPTION', `invalid volume options: mount option(s) ${extra.join(',')} are not supported for a bind volume`);
    return { kind: 'bind', device };
  }
  throw invalidArgument(
    'BERTH_VOLUME_BAD_OPTION',
    `local volume options ${JSON.stringify(o)} are not supported by berth: only plain volumes and bind volumes (type=none, o=bind, device=/host/path) are`,
  );
}

/** berth has the local driver only; any other is refused (400) rather than looked up as a plugin. */
export function checkDriver(driver: string | undefined): void {
  if (driver && driver !== 'local') {
    throw invalidArgument('BERTH_VOLUME_BAD_DRIVER', `volume driver "${driver}" is not supported: berth has only the "local" volume driver`);
  }
}

export interface CreateVolumeInput {
  /** Empty: an anonymous volume with a random 64-hex name. */
  name?: string;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
}

/** The small interface the rest of berth uses to keep volumes. */
export interface VolumeStore {
  readonly root: string;
  list(): Promise<Volume[]>;
  get(name: string): Promise<Volume | undefined>;
  /** Create, or return the volume of that name as it is (`created` false). */
  create(input: CreateVolumeInput): Promise<{ volume: Volume; created: boolean }>;
  /** Remove a volume's directory; false when there was none. */
  remove(name: string): Promise<boolean>;
  /** Where a volume's data lives: its _data, or the host directory of a bind volume. */
  dataPath(volume: Volume): string;
}

interface VolumeMeta {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function nonEmpty(m: Record<string, string> | null | undefined): Record<string, string> | null {
  return m && Object.keys(m).length > 0 ? { ...m } : null;
}

/** Mount points (host namespace) at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(dir + '/')) out.push(mp);
  }
  return out;
}

/** <dataRoot>/volumes: the local driver's directory. */
export class LocalVolumeStore implements VolumeStore {
  readonly root: string;

  constructor(dataRoot: string) {
    this.root = join(dataRoot, 'volumes');
  }

  private dir(name: string): string {
    if (!VOLUME_NAME.test(name)) throw invalidVolumeName(name);
    return join(this.root, name);
  }

  dataPath(volume: Volume): string {
    const opts = parseLocalOptions(volume.Options);
    return opts.kind === 'bind' ? opts.device : volume.Mountpoint;
  }

  private async read(name: string): Promise<Volume | undefined> {
    const dir = join(this.root, name);
    let meta: VolumeMeta | undefined;
    try {
      meta = JSON.parse(await readFile(join(dir, 'volume.json'), 'utf8')) as VolumeMeta;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && !(err instanceof SyntaxError)) throw err;
    }
    if (!meta) {
      // A volume of an older berth: only its _data.
      const st = await stat(join(dir, '_data')).catch(() => undefined);
      if (!st?.isDirectory()) return undefined;
      meta = {
        Name: name,
        CreatedAt: rfc3339(st.mtime),
        Labels: /^[0-9a-f]{64}$/.test(name) ? { [ANONYMOUS_LABEL]: '' } : null,
        Options: null,
      };
    }
    return {
      CreatedAt: meta.CreatedAt,
      Driver: 'local',
      Labels: nonEmpty(meta.Labels),
      Mountpoint: join(dir, '_data'),
      Name: name,
      Options: nonEmpty(meta.Options),
      Scope: 'local',
    };
  }

  async list(): Promise<Volume[]> {
    const names = await readdir(this.root).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: Volume[] = [];
    for (const name of names.sort()) {
      if (!VOLUME_NAME.test(name)) continue;
      const v = await this.read(name);
      if (v) out.push(v);
    }
    return out;
  }

  async get(name: string): Promise<Volume | undefined> {
    if (!VOLUME_NAME.test(name)) return undefined;
    return this.read(name);
  }

  async create(input: CreateVolumeInput): Promise<{ volume: Volume; created: boolean }> {
    checkDriver(input.driver);
    const anonymous = !input.name;
    const name = input.name || randomBytes(32).toString('hex');
    const dir = this.dir(name);
    const options = nonEmpty(input.options);
    parseLocalOptions(options);
    const existing = await this.read(name);
    if (existing) return { volume: existing, created: false };
    await mkdir(this.root, { recursive: true, mode: 0o701 });
    const tmp = join(this.root, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(join(tmp, '_data'), { recursive: true, mode: 0o755 });
      const labels = { ...(input.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) };
      const meta: VolumeMeta = { Name: name, CreatedAt: rfc3339(new Date()), Labels: nonEmpty(labels), Options: options };
      await writeJsonAtomic(join(tmp, 'volume.json'), meta);
      try {
        await rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Someone made it meanwhile (or a bare _data of an older berth is there): theirs stands.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        const theirs = await this.read(name);
        if (!theirs) throw err;
        return { volume: theirs, created: false };
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return { volume: (await this.read(name))!, created: true };
  }

  async remove(name: string): Promise<boolean> {
    const dir = this.dir(name);
    const mounted = mountsUnder(dir);
    if (mounted.length) {
      throw conflict('BERTH_VOLUME_MOUNTED', `remove ${name}: something is mounted in the volume (${mounted.join(', ')}); unmount it first`);
    }
    const gone = join(this.root, `.rm-${randomBytes(8).toString('hex')}`);
    try {
      await rename(dir, gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    // rm never follows symlinks; the tree is the volume's own (a bind volume's device is elsewhere and untouched).
    await rm(gone, { recursive: true, force: true });
    return true;
  }

  /** Leftovers of a create or remove that a crash interrupted. */
  async cleanup(): Promise<void> {
    for (const n of await readdir(this.root).catch(() => [] as string[])) {
      if (n.startsWith('.tmp-') || n.startsWith('.rm-')) {
        const path = join(this.root, n);
        if (mountsUnder(path).length === 0) await rm(path, { recursive: true, force: true });
      }
    }
  }
}

/**
 * A volume's size as Docker counts it (pkg/directory.Size): the sizes of the
 * files and symlinks in the tree, each hard-linked file once, directories
 * not counted. -1 when the tree cannot be read.
 */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      const st = await lstat(path, { bigint: true }).catch(() => undefined);
      if (!st) continue;
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += Number(st.size);
    }
  };
  try {
    await walk(dir);
    return total;
  } catch {
    return -1;
  }
}

// --- references ------------------------------------------------------------

/**
 * Volumes a container refers to: what its last start mounted, its anonymous
 * volumes, and what its Binds/Mounts name (a created container holds its
 * named volumes before it ever starts, as with Docker).
 */
export function volumesOf(rec: ContainerRecord): string[] {
  const names = new Set<string>();
  for (const m of rec.MountPoints ?? []) if (m.Type === 'volume' && m.Name) names.add(m.Name);
  for (const n of rec.AnonymousVolumes ?? []) names.add(n);
  for (const b of rec.HostConfig.Binds ?? []) {
    const parts = b.split(':');
    if (parts.length >= 2 && parts[0] && !parts[0].startsWith('/')) names.add(parts[0]);
  }
  for (const m of rec.HostConfig.Mounts ?? []) if ((m.Type ?? 'volume') === 'volume' && m.Source) names.add(m.Source);
  return [...names];
}

/** Volume name → ids of the containers that refer to it. */
export function volumeUsers(containers: Iterable<ContainerRecord>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of containers) for (const n of volumesOf(c)) out.set(n, [...(out.get(n) ?? []), c.Id]);
  return out;
}

/*
 * An anonymous volume a starting container just created is not yet in its
 * record (it lands there when the start has gone through); until then it is
 * pinned to that container, so a concurrent prune or rm cannot take it away.
 * A pin ends when the container's record names the volume, when the
 * container is gone, or after a minute (a start that failed early).
 */
const pins = new Map<string, { containerId: string; until: number }>();
const PIN_MS = 60_000;

function pinKey(root: string, name: string): string {
  return `${root}\0${name}`;
}

export function pinVolume(store: VolumeStore, name: string, containerId: string): void {
  pins.set(pinKey(store.root, name), { containerId, until: Date.now() + PIN_MS });
}

function isPinned(store: VolumeStore, name: string, findContainer: (id: string) => ContainerRecord | undefined): boolean {
  const key = pinKey(store.root, name);
  const pin = pins.get(key);
  if (!pin) return false;
  const holder = pin.containerId ? findContainer(pin.containerId) : undefined;
  if (pin.until < Date.now() || (pin.containerId && !holder) || holder?.AnonymousVolumes?.includes(name)) {
    pins.delete(key);
    return false;
  }
  return true;
}

/**
 * `docker rm -v`: the container's anonymous volumes go with it, unless
 * another container still refers to one.
 */
export async function removeAnonymousVolumes(dataRoot: string, rec: ContainerRecord, containers: Iterable<ContainerRecord>, events?: Events): Promise<void> {
  const store = new LocalVolumeStore(dataRoot);
  const others = volumeUsers([...containers].filter((c) => c.Id !== rec.Id));
  for (const name of rec.AnonymousVolumes ?? []) {
    if (others.has(name) || !VOLUME_NAME.test(name)) continue;
    if (await store.remove(name).catch(() => false)) events?.emit('volume', 'destroy', name, { driver: 'local' });
  }
}

// --- copy-up ---------------------------------------------------------------

/**
 * Docker's copy-up: a new, empty volume mounted where the image has a
 * directory first gets that directory's content (owners, modes, times,
 * xattrs, hard links kept: `cp -a`). The source is resolved inside the
 * container's root filesystem (symlinks cannot lead out of it) and held open
 * while copying, so it cannot be swapped for a path elsewhere on the host.
 * Returns whether anything was copied.
 */
export async function copyUpImageContent(rootfs: string, destination: string, target: string): Promise<boolean> {
  const resolved = resolveInRoot(rootfs, destination);
  if (!resolved.stat?.isDirectory()) return false;
  if ((await readdir(target)).length > 0) return false;
  const handle = await open(resolved.hostPath, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
  try {
    const held = await readlink(`/proc/self/fd/${handle.fd}`);
    const root = await realpath(rootfs);
    if (held !== root && !held.startsWith(root + '/')) {
      throw new BerthError('BERTH_VOLUME_COPY_UP', `copy-up for ${destination}: the image path resolved outside the container's root filesystem`, { status: 500 });
    }
    if ((await readdir(`/proc/self/fd/${handle.fd}`)).length === 0) return false;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('cp', ['-a', '--reflink=auto', '--', '/proc/self/fd/3/.', `${target}/`], { stdio: ['ignore', 'ignore', 'pipe', handle.fd] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new BerthError('BERTH_VOLUME_COPY_UP', `copying the image's ${destination} into its volume failed: ${stderr.trim() || `cp exited ${code}`}`, { status: 500 }));
      });
    });
    return true;
  } finally {
    await handle.close();
  }
}

// --- the service behind the API --------------------------------------------

export interface VolumeServiceOptions {
  dataRoot: string;
  events: Pick<EventHub, 'emit' | 'subscribe'>;
  /** Every container record (references: a volume some container refers to is in use). */
  containers: () => Iterable<ContainerRecord>;
  /** One container by id (for unmount events). */
  findContainer: (id: string) => ContainerRecord | undefined;
}

const LIST_FILTERS = new Set(['dangling', 'name', 'driver', 'label']);
const PRUNE_FILTERS = new Set(['label', 'label!', 'all']);


function labelMatches(filter: string, labels: Record<string, string>): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return filter in labels;
  const key = filter.slice(0, eq);
  return key in labels && labels[key] === filter.slice(eq + 1);
}

function parseBool(key: string, values: string[]): boolean {
  if (values.length !== 1) throw badFilter(`invalid filter '${key}=${values.join(',')}': only one value is expected`);
  const v = values[0]!;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw badFilter(`invalid filter '${key}=${v}'`);
}

export class VolumeService {
  readonly store: LocalVolumeStore;
  private readonly opts: VolumeServiceOptions;
  private pruning = false;

  private constructor(opts: VolumeServiceOptions) {
    this.opts = opts;
    this.store = new LocalVolumeStore(opts.dataRoot);
  }

  static async open(opts: VolumeServiceOptions): Promise<VolumeService> {
    const svc = new VolumeService(opts);
    await svc.store.cleanup();
    // dockerd's unmount events: when a container stops, each volume it had mounted.
    opts.events.subscribe((e) => {
      if (e.Type !== 'container' || e.Action !== 'die') return;
      const rec = opts.findContainer(e.Actor.ID);
      for (const m of rec?.MountPoints ?? []) {
        if (m.Type === 'volume' && m.Name) opts.events.emit('volume', 'unmount', m.Name, { container: e.Actor.ID, driver: 'local' });
      }
    });
    return svc;
  }

  private users(): Map<string, string[]> {
    return volumeUsers(this.opts.containers());
  }

  private inUse(name: string, users: Map<string, string[]>): boolean {
    return users.has(name) || isPinned(this.store, name, this.opts.findContainer);
  }

  /** Who holds a volume, for the 409 message: the referring containers, or the one starting with it. */
  private holders(name: string, users: Map<string, string[]>): string[] {
    return users.get(name) ?? [pins.get(pinKey(this.store.root, name))?.containerId || 'a container being started'];
  }

  /** GET /volumes with Docker's filters (name, driver, label, dangling). */
  async list(filters: Map<string, string[]> = new Map()): Promise<Volume[]> {
    for (const key of filters.keys()) if (!LIST_FILTERS.has(key)) throw badFilter(`invalid filter '${key}'`);
    const dangling = filters.has('dangling') ? parseBool('dangling', filters.get('dangling')!) : undefined;
    const users = dangling === undefined ? undefined : this.users();
    return (await this.store.list()).filter((v) => {
      const names = filters.get('name');
      if (names?.length && !names.some((n) => filterMatches(n, v.Name))) return false;
      const drivers = filters.get('driver');
      if (drivers?.length && !drivers.includes(v.Driver)) return false;
      if (!(filters.get('label') ?? []).every((l) => labelMatches(l, v.Labels ?? {}))) return false;
      if (dangling !== undefined && this.inUse(v.Name, users!) === dangling) return false;
      return true;
    });
  }

  async inspect(name: string): Promise<Volume> {
    const v = await this.store.get(name);
    if (!v) throw notFound('BERTH_VOLUME_NOT_FOUND', `get ${name}: no such volume`);
    return v;
  }

  async create(body: VolumeCreateOptions): Promise<Volume> {
    checkDriver(body.Driver);
    if (body.Name && !VOLUME_NAME.test(body.Name)) {
      const err = invalidVolumeName(body.Name);
      throw invalidArgument(err.code, `create ${body.Name}: ${err.message}`);
    }
    if (body.ClusterVolumeSpec) throw invalidArgument('BERTH_VOLUME_CLUSTER', 'cluster volumes are not supported: berth is not a swarm node');
    const input: CreateVolumeInput = {
      ...(body.Name ? { name: body.Name } : {}),
      ...(body.Driver ? { driver: body.Driver } : {}),
      labels: body.Labels ?? null,
      options: body.DriverOpts ?? null,
    };
    const opts = parseLocalOptions(input.options);
    if (opts.kind === 'bind' && !(await stat(opts.device).catch(() => undefined))?.isDirectory()) {
      throw invalidArgument('BERTH_VOLUME_BAD_OPTION', `invalid volume options: device ${opts.device} is not an existing directory`);
    }
    const { volume, created } = await this.store.create(input);
    if (created) this.opts.events.emit('volume', 'create', volume.Name, { driver: 'local' });
    return volume;
  }

  /** DELETE /volumes/{name}: 409 while a container refers to it; `force` ignores a missing volume. */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = await this.store.get(name);
    if (!v) {
      if (opts.force) return;
      throw notFound('BERTH_VOLUME_NOT_FOUND', `get ${name}: no such volume`);
    }
    const users = this.users();
    if (this.inUse(name, users)) {
      throw conflict('BERTH_VOLUME_IN_USE', `remove ${name}: volume is in use - [${this.holders(name, users).join(', ')}]`);
    }
    if (await this.store.remove(name)) this.opts.events.emit('volume', 'destroy', name, { driver: 'local' });
  }

  /**
   * POST /volumes/prune: unused local volumes without driver options. From
   * API 1.42 only anonymous ones unless the `all` filter says true (older
   * clients get all, as dockerd does for them).
   */
  async prune(filters: Map<string, string[]>, apiAtLeast142: boolean): Promise<VolumesPruneReport> {
    for (const key of filters.keys()) if (!PRUNE_FILTERS.has(key)) throw badFilter(`invalid filter '${key}'`);
    const all = !apiAtLeast142 || (filters.has('all') ? parseBool('all', filters.get('all')!) : false);
    if (this.pruning) throw conflict('BERTH_VOLUME_PRUNE_RUNNING', 'a prune operation is already running');
    this.pruning = true;
    try {
      const users = this.users();
      const report: VolumesPruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 };
      for (const v of await this.store.list()) {
        const labels = v.Labels ?? {};
        if (v.Options) continue;
        if (!all && !(ANONYMOUS_LABEL in labels)) continue;
        if (!(filters.get('label') ?? []).every((l) => labelMatches(l, labels))) continue;
        if ((filters.get('label!') ?? []).some((l) => labelMatches(l, labels))) continue;
        if (this.inUse(v.Name, users)) continue;
        const size = await diskUsage(v.Mountpoint);
        if (!(await this.store.remove(v.Name).catch(() => false))) continue;
        this.opts.events.emit('volume', 'destroy', v.Name, { driver: 'local' });
        report.VolumesDeleted.push(v.Name);
        report.SpaceReclaimed += Math.max(0, size);
      }
      this.opts.events.emit('volume', 'prune', '', { reclaimed: String(report.SpaceReclaimed) });
      return report;
    } finally {
      this.pruning = false;
    }
  }

  /** /system/df's Volumes: local volumes without options, with size and reference count. */
  async usage(): Promise<Volume[]> {
    const users = this.users();
    const out: Volume[] = [];
    for (const v of await this.store.list()) {
      if (v.Options) continue;
      out.push({ ...v, UsageData: { Size: await diskUsage(v.Mountpoint), RefCount: users.get(v.Name)?.length ?? 0 } });
    }
    return out;
  }
}
