import { BerthError } from '../common/errors.ts';
import type { Digest } from '../content/types.ts';
import type { ContainerConfig as ApiContainerConfig } from '../api/container-types.ts';
import type { ContainerChangeResponseItem } from '../api/container-data-types.ts';
import { MediaTypes, type ContainerConfig, type Descriptor, type HistoryEntry, type ImageConfig } from '../oci/image-spec.ts';
import { applyChanges } from '../image/archive/changes.ts';
import { parseImageConfig, parseManifest } from '../image/manifest.ts';
import { hostPlatform } from '../image/platform.ts';
import { parseDockerRef, tagString } from '../image/reference.ts';
import type { ImageService } from '../image/service.ts';
import { changes, changesSize, writeDiffLayer } from '../snapshot/diff.ts';
import type { Snapshotter } from '../snapshot/types.ts';

/**
 * `docker commit` and `docker diff` for a container's writable snapshot.
 *
 * commit: the snapshot's changes against its parent become one gzip layer in
 * the content store; the image config is the base image's with that layer's
 * diff ID appended (none when nothing changed: Docker's empty_layer), a
 * history entry, and the container's Config with the CHANGE lines applied
 * (Docker's merge: what the changes set wins, the rest comes from the
 * container). The image is registered through ImageService.addImage, which
 * also unpacks it into snapshots, and tagged when a reference is given.
 *
 * The caller pauses the container around the call when it is running
 * (`docker commit --pause`, the default), so the layer is a consistent copy.
 */

/** Diff ID of an empty layer (a tar of only the end-of-archive blocks). */
export const EMPTY_LAYER_DIFF_ID: Digest = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

export interface CommitContainerOptions {
  images: ImageService;
  snapshotter: Snapshotter;
  /** The container's writable snapshot. */
  snapshotKey: string;
  /** Image the container was created from (its layers and history come first); none for a container from scratch. */
  baseImageId?: string;
  /** The container's Config (as stored for it). */
  containerConfig: ApiContainerConfig;
  /** POST /commit body: a Config that overrides the container's (Docker merges the two). */
  config?: ApiContainerConfig;
  /** Dockerfile-style CHANGE lines: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL, ONBUILD. */
  changes?: string[];
  author?: string;
  comment?: string;
  /** repo[:tag] to tag the new image with (tag defaults to latest). */
  reference?: string;
  /** The container's ID, recorded as Docker does in the image config's "container". */
  containerId?: string;
}

export interface CommitResult {
  id: Digest;
  manifest: Descriptor;
  /** Diff ID of the new layer, or undefined when the container had no changes. */
  diffId?: Digest;
  /** Full normalised tag, when a reference was given. */
  tag?: string;
}

/** API Config (Cmd may be a string, fields may be null) → image config shape. */
function toImageConfig(c: ApiContainerConfig | undefined): ContainerConfig {
  const out: ContainerConfig = {};
  if (!c) return out;
  const strs = (v: string[] | string | null | undefined) => (v === null || v === undefined ? undefined : typeof v === 'string' ? [v] : [...v]);
  for (const [key, value] of Object.entries(c)) {
    if (value === null || value === undefined) continue;
    if (key === 'Cmd' || key === 'Entrypoint') {
      (out as Record<string, unknown>)[key] = strs(value as string[] | string);
      continue;
    }
    (out as Record<string, unknown>)[key] = structuredClone(value);
  }
  return out;
}

/**
 * The CHANGE lines in order, with the Dockerfile rule the shared parser
 * leaves to the caller: ENTRYPOINT clears CMD unless a CMD came before it.
 */
export function applyCommitChanges(config: ContainerConfig, lines: string[]): ContainerConfig {
  let out = config;
  let cmdSet = false;
  for (const line of lines) {
    out = applyChanges(out, [line]);
    const instruction = line.trim().split(/\s+/, 1)[0]!.toUpperCase();
    if (instruction === 'CMD') cmdSet = true;
    if (instruction === 'ENTRYPOINT' && !cmdSet) out.Cmd = null;
  }
  return out;
}

const envKey = (e: string) => e.split('=', 1)[0]!;

/**
 * Docker's daemon/commit.go merge(): the fields it merges (User, ExposedPorts,
 * Env, Labels, Cmd/Entrypoint, WorkingDir, Volumes, StopSignal, Healthcheck)
 * come from `container` where `user` leaves them unset; nothing else does.
 */
export function mergeCommitConfig(user: ContainerConfig, container: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...user };
  const user_ = user.User || container.User;
  if (user_) out.User = user_;
  if (!user.ExposedPorts || Object.keys(user.ExposedPorts).length === 0) {
    if (container.ExposedPorts) out.ExposedPorts = container.ExposedPorts;
  } else {
    out.ExposedPorts = { ...(container.ExposedPorts ?? {}), ...user.ExposedPorts };
  }
  if (!user.Env || user.Env.length === 0) {
    if (container.Env) out.Env = container.Env;
  } else {
    const keys = new Set(user.Env.map(envKey));
    out.Env = [...user.Env, ...(container.Env ?? []).filter((e) => !keys.has(envKey(e)))];
  }
  if (user.Labels || container.Labels) out.Labels = { ...(container.Labels ?? {}), ...(user.Labels ?? {}) };
  if (!user.Entrypoint || user.Entrypoint.length === 0) {
    if ((!user.Cmd || user.Cmd.length === 0) && container.Cmd !== undefined) out.Cmd = container.Cmd;
    if (user.Entrypoint === undefined && container.Entrypoint !== undefined) out.Entrypoint = container.Entrypoint;
  }
  const workdir = user.WorkingDir || container.WorkingDir;
  if (workdir) out.WorkingDir = workdir;
  if (!user.Volumes || Object.keys(user.Volumes).length === 0) {
    if (container.Volumes) out.Volumes = container.Volumes;
  } else {
    out.Volumes = { ...(container.Volumes ?? {}), ...user.Volumes };
  }
  if (!user.StopSignal && container.StopSignal) out.StopSignal = container.StopSignal;
  if (!user.Healthcheck && container.Healthcheck) out.Healthcheck = container.Healthcheck;
  return out;
}

async function readBase(images: ImageService, baseImageId: string): Promise<{ id: Digest; config: ImageConfig; layers: Descriptor[] }> {
  const resolved = await images.resolveImage(baseImageId);
  const parsed = parseManifest(await images.content.readBytes(resolved.manifest.digest), resolved.manifest.mediaType);
  if (parsed.kind !== 'manifest') {
    throw new BerthError('BERTH_COMMIT_BASE', `base image ${baseImageId}: stored manifest ${resolved.manifest.digest} is not an image manifest`);
  }
  const config = parseImageConfig(await images.content.readBytes(resolved.id));
  if (config.rootfs.diff_ids.length !== parsed.manifest.layers.length) {
    throw new BerthError('BERTH_COMMIT_BASE', `base image ${resolved.id}: ${parsed.manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  }
  return { id: resolved.id, config, layers: parsed.manifest.layers };
}

/** POST /commit: the container's changes as a new image; returns its ID. */
export async function commitContainer(options: CommitContainerOptions): Promise<CommitResult> {
  // Everything the user typed is checked before any work.
  let tag: string | undefined;
  if (options.reference) {
    const ref = parseDockerRef(options.reference);
    if (ref.digest !== undefined || ref.tag === undefined) {
      throw new BerthError('BERTH_COMMIT_INVALID_REFERENCE', `invalid reference "${options.reference}": cannot commit to a digest reference`, { status: 400 });
    }
    tag = tagString(ref as typeof ref & { tag: string });
  }
  const containerConfig = toImageConfig(options.containerConfig);
  let userConfig: ContainerConfig;
  try {
    // Docker: the changes apply to the request's Config, or to the container's when there is none.
    userConfig = applyCommitChanges(options.config ? toImageConfig(options.config) : structuredClone(containerConfig), options.changes ?? []);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'BERTH_IMPORT_INVALID_CHANGE') {
      throw new BerthError('BERTH_COMMIT_INVALID_CHANGE', err.message, { status: 400, cause: err });
    }
    throw err;
  }
  const config = mergeCommitConfig(userConfig, containerConfig);
  const base = options.baseImageId ? await readBase(options.images, options.baseImageId) : undefined;
  const info = await options.snapshotter.find(options.snapshotKey);
  if (!info) throw new BerthError('BERTH_COMMIT_NO_SNAPSHOT', `container snapshot ${options.snapshotKey} does not exist`, { status: 404 });
  if (info.kind !== 'active') throw new BerthError('BERTH_COMMIT_NO_SNAPSHOT', `snapshot ${options.snapshotKey} is ${info.kind}, not a container's writable layer`, { status: 400 });

  const store = options.images.content;
  const layer = await writeDiffLayer(await options.snapshotter.dirs(options.snapshotKey), store, { compression: 'gzip' });
  const emptyLayer = layer.diffId === EMPTY_LAYER_DIFF_ID;

  const created = new Date().toISOString();
  const history: HistoryEntry = {
    created,
    ...(options.author ? { author: options.author } : {}),
    // Docker records the container's command (Cmd only) as what created the layer.
    created_by: (containerConfig.Cmd ?? []).join(' '),
    ...(options.comment ? { comment: options.comment } : {}),
    ...(emptyLayer ? { empty_layer: true } : {}),
  };
  const platform = base
    ? { architecture: base.config.architecture, os: base.config.os, ...(base.config.variant ? { variant: base.config.variant } : {}) }
    : { architecture: hostPlatform().architecture, os: hostPlatform().os, ...(hostPlatform().variant ? { variant: hostPlatform().variant } : {}) };
  const diffIds = [...(base?.config.rootfs.diff_ids ?? []), ...(emptyLayer ? [] : [layer.diffId])];
  const imageConfig: ImageConfig = {
    ...platform,
    ...(base?.config['os.version'] ? { 'os.version': base.config['os.version'] } : {}),
    ...(base?.config['os.features'] ? { 'os.features': base.config['os.features'] } : {}),
    created,
    ...(options.author ? { author: options.author } : {}),
    ...(options.comment ? { comment: options.comment } : {}),
    ...(options.containerId ? { container: options.containerId } : {}),
    config,
    container_config: containerConfig,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [...(base?.config.history ?? []), history],
  };
  const configInfo = await store.writeBytes(Buffer.from(JSON.stringify(imageConfig)));
  const layers: Descriptor[] = [
    ...(base?.layers ?? []).map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(l.urls ? { urls: l.urls } : {}) })),
    ...(emptyLayer ? [] : [{ mediaType: MediaTypes.dockerLayerTarGzip, digest: layer.descriptor.digest, size: layer.descriptor.size }]),
  ];
  const manifest = {
    schemaVersion: 2 as const,
    mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, digest: configInfo.digest, size: configInfo.size },
    layers,
  };
  const manifestInfo = await store.writeBytes(Buffer.from(JSON.stringify(manifest)));
  const manifestDescriptor: Descriptor = { mediaType: MediaTypes.dockerManifest, digest: manifestInfo.digest, size: manifestInfo.size };
  const { id } = await options.images.addImage({
    manifest: manifestDescriptor,
    tags: tag ? [tag] : [],
    ...(base ? { parent: base.id } : {}),
  });
  return { id, manifest: manifestDescriptor, ...(emptyLayer ? {} : { diffId: layer.diffId }), ...(tag ? { tag } : {}) };
}

const KIND: Record<'C' | 'A' | 'D', 0 | 1 | 2> = { C: 0, A: 1, D: 2 };

/** GET /containers/{id}/changes: the snapshot's changes with Docker's kinds (0 modified, 1 added, 2 deleted), in path order. */
export async function containerChanges(snapshotter: Snapshotter, key: string): Promise<ContainerChangeResponseItem[]> {
  const list = await changes(await snapshotter.dirs(key));
  return list.map((c) => ({ Path: c.path, Kind: KIND[c.kind] }));
}

/** A container's SizeRw (ps -s, system df, container prune's reclaimed space): the bytes of its changes, as dockerd counts them. */
export async function containerSizeRw(snapshotter: Snapshotter, key: string): Promise<number> {
  return changesSize(await snapshotter.dirs(key));
}
