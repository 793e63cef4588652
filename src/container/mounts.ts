/**
 * A container's user mounts — `-v`/Binds, `--mount`/Mounts, `--tmpfs`/Tmpfs —
 * resolved to OCI mounts with host paths, with Docker's parsing and errors.
 * Named and anonymous volumes are kept by the volume store (volumes.ts, under
 * <dataRoot>/volumes/<name>/_data); a new empty one first gets the image's
 * content at its path (Docker's copy-up) unless `nocopy` says not to.
 */
import { mkdir, stat } from 'node:fs/promises';
import { isAbsolute, posix } from 'node:path';
import type { Mount } from '../oci/runtime-spec.ts';
import type { HostConfig, MountPoint } from '../api/container-types.ts';
import type { EventHub } from '../api/events.ts';
import { BerthError, invalidArgument } from '../common/errors.ts';
import { checkDriver, copyUpImageContent, LocalVolumeStore, parseLocalOptions, pinVolume, VOLUME_NAME } from './volumes.ts';
import type { ContainerRecord } from './store.ts';

/** What `docker inspect` shows under .Mounts. */
export interface MountRecord {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ResolvedMounts {
  oci: Mount[];
  records: MountRecord[];
  /** Anonymous volumes this container created (removed with `rm -v`). */
  anonymousVolumes: string[];
}

const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

function checkDestination(dest: string, where: string): string {
  if (!dest || !posix.isAbsolute(dest)) {
    throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid mount config: mount path must be absolute ("${dest}")`);
  }
  const clean = posix.normalize(dest);
  if (clean === '/') throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid specification: destination can't be '/'`);
  return clean.replace(/\/+$/, '');
}

interface Parsed {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  destination: string;
  readOnly: boolean;
  propagation: string;
  options: string[];
  mode: string;
  createHostPath: boolean;
  /** Volumes: no copy-up of the image's content (`nocopy`, VolumeOptions.NoCopy). */
  noCopy?: boolean;
  /** --mount volume options for a volume it creates. */
  volumeLabels?: Record<string, string>;
  volumeDriver?: string;
  volumeOptions?: Record<string, string>;
  /** --tmpfs (HostConfig.Tmpfs): mounted, but not in .Mounts (dockerd lists only --mount tmpfs there). */
  unlisted?: boolean;
  /** From another container (--volumes-from): its volume by name, never this container's anonymous one. */
  fromOther?: boolean;
}

/** `-v src:dst[:opts]` / `-v dst` (anonymous volume). */
export function parseBind(spec: string): Parsed {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `invalid volume specification: '${spec}'`);
  }
  let source = '';
  let destination: string;
  let mode = '';
  if (parts.length === 1) destination = parts[0]!;
  else if (parts.length === 2 && posix.isAbsolute(parts[1]!)) [source, destination] = parts as [string, string];
  else if (parts.length === 2) {
    [destination, mode] = parts as [string, string];
  } else [source, destination, mode] = parts as [string, string, string];
  let readOnly = false;
  let propagation = 'rprivate';
  let noCopy = false;
  const options: string[] = [];
  for (const m of mode ? mode.split(',') : []) {
    if (m === 'ro') readOnly = true;
    else if (m === 'rw') readOnly = false;
    else if (PROPAGATIONS.has(m)) propagation = m;
    else if (m === 'nocopy') noCopy = true;
    else if (m === 'z' || m === 'Z' || m === 'consistent' || m === 'cached' || m === 'delegated') {
      // SELinux relabelling and macOS consistency flags mean nothing here, as on Docker without SELinux.
    } else {
      throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `invalid mode: ${m} (in volume specification '${spec}')`);
    }
  }
  const isVolume = source === '' || !isAbsolute(source);
  if (isVolume && source !== '' && !VOLUME_NAME.test(source)) {
    throw invalidArgument(
      'BERTH_CONTAINER_BAD_MOUNT',
      `"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return {
    type: isVolume ? 'volume' : 'bind',
    source,
    destination: checkDestination(destination, `volume '${spec}'`),
    readOnly,
    propagation,
    options,
    mode,
    // -v creates a missing host directory (Docker's legacy behaviour); --mount does not.
    createHostPath: true,
    ...(noCopy ? { noCopy } : {}),
  };
}

export function parseMountPoint(m: MountPoint): Parsed {
  const type = m.Type ?? 'volume';
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') {
    throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `mount type "${type}" is not supported`);
  }
  const where = `mount ${type} at ${m.Target}`;
  const destination = checkDestination(m.Target, where);
  if (type === 'bind' && !m.Source) throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid mount config for type "bind": field Source must not be empty`);
  if (type === 'bind' && !isAbsolute(m.Source!)) {
    throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid mount config for type "bind": invalid mount path: '${m.Source}' mount path must be absolute`);
  }
  if (type === 'tmpfs' && m.Source) throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid mount config for type "tmpfs": field Source must be empty`);
  const propagation = m.BindOptions?.Propagation || 'rprivate';
  if (!PROPAGATIONS.has(propagation)) throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `${where}: invalid propagation mode "${propagation}"`);
  const options: string[] = [];
  if (type === 'tmpfs') {
    options.push('nosuid', 'nodev', 'noexec');
    if (m.TmpfsOptions?.SizeBytes) options.push(`size=${m.TmpfsOptions.SizeBytes}`);
    if (m.TmpfsOptions?.Mode) options.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
  }
  return {
    type,
    source: m.Source ?? '',
    destination,
    readOnly: !!m.ReadOnly,
    propagation,
    options,
    mode: '',
    createHostPath: !!m.BindOptions?.CreateMountpoint,
    ...(type === 'volume' && m.VolumeOptions?.NoCopy ? { noCopy: true } : {}),
    ...(type === 'volume' && m.VolumeOptions?.Labels ? { volumeLabels: m.VolumeOptions.Labels } : {}),
    ...(type === 'volume' && m.VolumeOptions?.DriverConfig?.Name ? { volumeDriver: m.VolumeOptions.DriverConfig.Name } : {}),
    ...(type === 'volume' && m.VolumeOptions?.DriverConfig?.Options ? { volumeOptions: m.VolumeOptions.DriverConfig.Options } : {}),
  };
}

/** `--tmpfs /run:rw,size=64m` → Tmpfs {"/run": "rw,size=64m"}. */
export function parseTmpfs(destination: string, opts: string): Parsed {
  const options = ['nosuid', 'nodev', 'noexec'];
  let readOnly = false;
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'exec') options.splice(options.indexOf('noexec'), 1);
    else if (o === 'suid') options.splice(options.indexOf('nosuid'), 1);
    else if (o === 'dev') options.splice(options.indexOf('nodev'), 1);
    else if (/^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9a-zA-Z%]+$/.test(o) || ['noexec', 'nosuid', 'nodev', 'strictatime', 'relatime', 'noatime'].includes(o)) {
      if (!options.includes(o)) options.push(o);
    } else {
      throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `tmpfs ${destination}: invalid option "${o}"`);
    }
  }
  return { type: 'tmpfs', source: '', destination: checkDestination(destination, `tmpfs ${destination}`), readOnly, propagation: '', options, mode: opts, createHostPath: false, unlisted: true };
}

/** `--volumes-from container[:ro|rw]` (z/Z accepted and meaningless here, as -v's); dockerd's "invalid mode". */
export function parseVolumesFrom(spec: string): { ref: string; readOnly: boolean } {
  if (!spec) throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', 'volumes-from specification cannot be an empty string');
  const colon = spec.indexOf(':');
  const ref = colon < 0 ? spec : spec.slice(0, colon);
  const mode = colon < 0 ? '' : spec.slice(colon + 1);
  const parts = mode ? mode.split(',') : [];
  const count = (...m: string[]) => parts.filter((p) => m.includes(p)).length;
  if (!ref || parts.some((p) => !['ro', 'rw', 'z', 'Z'].includes(p)) || count('ro', 'rw') > 1 || count('z', 'Z') > 1) {
    throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `invalid mode: ${mode}`);
  }
  return { ref, readOnly: parts.includes('ro') };
}

/** Another container's mounts for --volumes-from: its volumes and binds, read-only when it says so or the flag does. */
export interface VolumesFromSource {
  records: MountRecord[];
  readOnly: boolean;
}

/**
 * The start-time half of HostConfig.VolumesFrom: each source container's
 * mounts. A source that never started has not made its volumes yet (dockerd
 * makes them at create): they are made now — with the starting container's
 * image content copied into new empty ones — and recorded as the source's,
 * so it finds the same volumes when it starts.
 */
export async function volumesFromSources(
  dataRoot: string,
  specs: readonly string[] | null | undefined,
  opts: {
    find: (ref: string) => ContainerRecord | undefined;
    save: (rec: ContainerRecord) => Promise<void>;
    rootfs?: string;
    events?: Pick<EventHub, 'emit'>;
    depth?: number;
  },
): Promise<VolumesFromSource[]> {
  const out: VolumesFromSource[] = [];
  for (const spec of specs ?? []) {
    const { ref, readOnly } = parseVolumesFrom(spec);
    const src = opts.find(ref);
    if (!src) throw new BerthError('BERTH_CONTAINER_NOT_FOUND', `volumes-from: No such container: ${ref}`, { status: 404 });
    if (!src.MountPoints) {
      if ((opts.depth ?? 0) > 16) throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `volumes-from: ${ref}: too many levels of --volumes-from`);
      const resolved = await resolveMounts(dataRoot, src.HostConfig, src.Config.Volumes ?? undefined, {
        ...(opts.rootfs ? { rootfs: opts.rootfs, copyUp: true } : {}),
        ...(opts.events ? { events: opts.events } : {}),
        containerId: src.Id,
        volumesFrom: await volumesFromSources(dataRoot, src.HostConfig.VolumesFrom, { ...opts, depth: (opts.depth ?? 0) + 1 }),
      });
      src.MountPoints = resolved.records;
      src.AnonymousVolumes = resolved.anonymousVolumes;
      await opts.save(src);
    }
    out.push({ records: src.MountPoints, readOnly });
  }
  return out;
}

export interface ResolveMountsOptions {
  /** The container's mounted root filesystem: the source of copy-up. */
  rootfs?: string;
  /** Copy the image's content into new empty volumes (Docker does it when the container is created: berth at its first start). */
  copyUp?: boolean;
  /** For volume create and mount events. */
  events?: Pick<EventHub, 'emit'>;
  containerId?: string;
  /** The mounts of the container's last start: its anonymous volumes are the same ones at every start (Docker's). */
  previous?: { records: readonly MountRecord[]; anonymousVolumes: readonly string[] };
  /** --volumes-from (volumesFromSources): what the user mounts itself at the same place wins. */
  volumesFrom?: VolumesFromSource[];
}

/** Resolve every user mount of a container to OCI mounts; creates volumes and (for -v) missing host dirs. */
export async function resolveMounts(
  dataRoot: string,
  hostConfig: HostConfig,
  imageVolumes: Record<string, unknown> | undefined,
  opts: ResolveMountsOptions = {},
): Promise<ResolvedMounts> {
  checkDriver(hostConfig.VolumeDriver);
  const store = new LocalVolumeStore(dataRoot);
  const mounted: Array<[string, Record<string, string>]> = [];
  const parsed: Parsed[] = [
    ...(hostConfig.Binds ?? []).map(parseBind),
    ...(hostConfig.Mounts ?? []).map(parseMountPoint),
    ...Object.entries(hostConfig.Tmpfs ?? {}).map(([dest, o]) => parseTmpfs(dest, o)),
  ];
  // --volumes-from: the other containers' volumes and binds (a later source wins a destination; the user's own mounts win over them).
  const fromOthers = new Map<string, Parsed>();
  for (const source of opts.volumesFrom ?? []) {
    for (const m of source.records) {
      if (m.Type === 'tmpfs' || parsed.some((p) => p.destination === m.Destination)) continue;
      fromOthers.set(m.Destination, {
        type: m.Type,
        source: m.Type === 'volume' ? (m.Name ?? '') : m.Source,
        destination: m.Destination,
        readOnly: !m.RW || source.readOnly,
        propagation: m.Propagation,
        options: [],
        mode: m.Mode,
        createHostPath: false,
        noCopy: true,
        fromOther: true,
      });
    }
  }
  parsed.push(...fromOthers.values());
  // Image VOLUMEs not covered by a user mount get anonymous volumes, as Docker does.
  for (const dest of Object.keys(imageVolumes ?? {})) {
    const clean = posix.normalize(dest).replace(/\/+$/, '') || '/';
    if (!parsed.some((p) => p.destination === clean)) parsed.push(parseBind(clean));
  }
  const seen = new Set<string>();
  const out: ResolvedMounts = { oci: [], records: [], anonymousVolumes: [] };
  for (const p of parsed) {
    if (seen.has(p.destination)) {
      throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `Duplicate mount point: ${p.destination}`);
    }
    seen.add(p.destination);
    if (p.type === 'tmpfs') {
      out.oci.push({ destination: p.destination, type: 'tmpfs', source: 'tmpfs', options: [...p.options, p.readOnly ? 'ro' : 'rw'] });
      if (!p.unlisted) out.records.push({ Type: 'tmpfs', Source: '', Destination: p.destination, Mode: p.mode, RW: !p.readOnly, Propagation: '' });
      continue;
    }
    let source = p.source;
    let name: string | undefined;
    if (p.type === 'volume') {
      checkDriver(p.volumeDriver);
      const anonymous = !source && !p.fromOther;
      if (anonymous) {
        // The anonymous volume this container had at this path before (restarts keep their data).
        const before = opts.previous?.records.find((m) => m.Type === 'volume' && m.Destination === p.destination && m.Name && opts.previous!.anonymousVolumes.includes(m.Name));
        if (before?.Name && (await store.get(before.Name))) source = before.Name;
      }
      const { volume, created } = await store.create({
        ...(source ? { name: source } : {}),
        ...(p.volumeLabels ? { labels: p.volumeLabels } : {}),
        ...(p.volumeOptions ? { options: p.volumeOptions } : {}),
      });
      name = volume.Name;
      if (anonymous) {
        out.anonymousVolumes.push(name);
        pinVolume(store, name, opts.containerId ?? '');
      }
      if (created) opts.events?.emit('volume', 'create', name, { driver: 'local' });
      source = store.dataPath(volume);
      if (parseLocalOptions(volume.Options).kind === 'bind' && !(await stat(source).catch(() => undefined))?.isDirectory()) {
        throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `volume ${name}: its device ${source} is not an existing directory`);
      }
      if (opts.copyUp && opts.rootfs && !p.noCopy) await copyUpImageContent(opts.rootfs, p.destination, source);
      mounted.push([name, { container: opts.containerId ?? '', destination: p.destination, driver: 'local', propagation: '', 'read/write': String(!p.readOnly) }]);
    } else {
      const st = await stat(source).catch(() => undefined);
      if (!st) {
        if (!p.createHostPath) {
          throw invalidArgument('BERTH_CONTAINER_BAD_MOUNT', `invalid mount config for type "bind": bind source path does not exist: ${source}`);
        }
        await mkdir(source, { recursive: true });
      }
    }
    const options = ['rbind', p.propagation || 'rprivate', p.readOnly ? 'ro' : 'rw'];
    out.oci.push({ destination: p.destination, type: 'bind', source, options });
    out.records.push({
      Type: p.type,
      ...(name ? { Name: name, Driver: 'local' } : {}),
      Source: source,
      Destination: p.destination,
      Mode: p.mode,
      RW: !p.readOnly,
      Propagation: p.type === 'bind' ? p.propagation : '',
    });
  }
  for (const [name, attrs] of mounted) opts.events?.emit('volume', 'mount', name, attrs);
  return out;
}
