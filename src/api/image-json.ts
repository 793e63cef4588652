/**
 * Image domain records → Docker Engine API JSON. Names are stored fully
 * normalised (docker.io/library/busybox:latest); the API shows them in the
 * familiar form dockerd uses (busybox:latest, 127.0.0.1:5000/busybox:latest).
 */
import type { ImageConfig, ContainerConfig as OciContainerConfig } from '../oci/image-spec.ts';
import { familiarString, parseReference } from '../image/reference.ts';
import type { ContainerConfig, ImageHistoryResponseItem, ImageInspect, ImageSummary } from './types.ts';

/** What the adapter needs to know about one image. */
export interface ImageFacts {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  parent?: string;
  size: number;
  config: ImageConfig;
  lastTagTime?: string;
  /** Per layer (in config.rootfs order) size in bytes, when known. */
  layerSizes?: number[];
  /** overlay paths of the image's snapshot, when unpacked. */
  graphDriverData?: Record<string, string> | null;
  /** Containers using the image (-1: not computed). */
  containers?: number;
}

export function familiar(name: string): string {
  try {
    return familiarString(parseReference(name));
  } catch {
    return name;
  }
}

export function createdSeconds(config: ImageConfig): number {
  const t = config.created ? Date.parse(config.created) : NaN;
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/** Docker's full container-config shape with the image's values. */
export function containerConfig(c: OciContainerConfig | undefined): ContainerConfig {
  const out: ContainerConfig = {
    Hostname: c?.Hostname ?? '',
    Domainname: c?.Domainname ?? '',
    User: c?.User ?? '',
    AttachStdin: c?.AttachStdin ?? false,
    AttachStdout: c?.AttachStdout ?? false,
    AttachStderr: c?.AttachStderr ?? false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c?.Env ?? null,
    Cmd: c?.Cmd ?? null,
    Image: '',
    Volumes: c?.Volumes ?? null,
    WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ?? null,
    OnBuild: c?.OnBuild ?? null,
    Labels: c?.Labels ?? null,
  };
  if (c?.ExposedPorts) out.ExposedPorts = c.ExposedPorts;
  if (c?.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c?.ArgsEscaped !== undefined) out.ArgsEscaped = c.ArgsEscaped;
  if (c?.StopSignal) out.StopSignal = c.StopSignal;
  // Keep Docker's key order for ExposedPorts/Healthcheck/ArgsEscaped/StopSignal readable.
  return out;
}

export function imageSummary(f: ImageFacts): ImageSummary {
  return {
    Containers: f.containers ?? -1,
    Created: createdSeconds(f.config),
    Id: f.id,
    Labels: f.config.config?.Labels ?? null,
    ParentId: f.parent ?? '',
    RepoDigests: f.repoDigests.length ? f.repoDigests.map(familiar) : null,
    RepoTags: f.repoTags.length ? f.repoTags.map(familiar) : null,
    SharedSize: -1,
    Size: f.size,
    VirtualSize: f.size,
  };
}

export function imageInspect(f: ImageFacts): ImageInspect {
  const c = f.config;
  const out: ImageInspect = {
    Id: f.id,
    RepoTags: f.repoTags.map(familiar),
    RepoDigests: f.repoDigests.map(familiar),
    Parent: f.parent ?? '',
    Comment: c.comment ?? historyComment(c),
    Created: c.created ?? '0001-01-01T00:00:00Z',
    Container: c.container ?? '',
    ContainerConfig: containerConfig(c.container_config),
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    Config: containerConfig(c.config),
    Architecture: c.architecture,
    Os: c.os,
    Size: f.size,
    VirtualSize: f.size,
    GraphDriver: { Data: f.graphDriverData ?? null, Name: 'overlay2' },
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: f.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
  if (c.variant) {
    // Docker puts Variant right after Architecture.
    const { Os, ...rest } = out;
    return { ...rest, Variant: c.variant, Os } as ImageInspect;
  }
  return out;
}

/** The last history entry's comment is what Docker shows as the image Comment ("Imported from -"). */
function historyComment(c: ImageConfig): string {
  const h = c.history;
  return h && h.length ? (h[h.length - 1]!.comment ?? '') : '';
}

/**
 * Docker's history: newest first; the top entry carries the image id and its
 * tags, older ones "<missing>" (their intermediate images are not local).
 */
export function imageHistory(f: ImageFacts): ImageHistoryResponseItem[] {
  const c = f.config;
  const layers = c.rootfs?.diff_ids ?? [];
  const entries = c.history && c.history.length ? c.history : layers.map(() => ({ created: c.created, created_by: '', comment: '' }));
  let layerIndex = 0;
  const items: ImageHistoryResponseItem[] = entries.map((h) => {
    const empty = 'empty_layer' in h && h.empty_layer === true;
    const size = empty ? 0 : (f.layerSizes?.[layerIndex] ?? 0);
    if (!empty) layerIndex++;
    const t = h.created ? Date.parse(h.created) : NaN;
    return {
      Id: '<missing>',
      Created: Number.isNaN(t) ? 0 : Math.floor(t / 1000),
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: size,
      Comment: h.comment ?? '',
    };
  });
  items.reverse();
  if (items.length) {
    items[0]!.Id = f.id;
    items[0]!.Tags = f.repoTags.length ? f.repoTags.map(familiar) : null;
  }
  return items;
}
