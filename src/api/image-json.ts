/**
 * ImageService domain results → Docker Engine API JSON (field names, nulls
 * and defaults as dockerd answers; see protocol-traces/docker-images.txt and
 * docker-image-inspect.txt). Names arrive in familiar form already.
 */
import type { ContainerConfig as OciContainerConfig } from '../oci/image-spec.ts';
import type { ImageDetails, ImageHistoryItem, ImageSummary as DomainSummary } from '../image/service.ts';
import type { ContainerConfig, ImageHistoryResponseItem, ImageInspect, ImageSummary } from './types.ts';
import { API_VERSION } from '../common/config.ts';
import { compareVersions } from './version.ts';

/**
 * VirtualSize, which dockerd stopped sending from API 1.44, goes only to older
 * clients. Container/ContainerConfig (dropped by dockerd from 1.45) are always
 * sent: docker-compose 1.29 negotiates the server's highest version with a
 * compose file that names none, then reads image ContainerConfig to recreate a
 * container (KeyError without it); newer clients ignore the extra fields.
 */
const hasVirtualSize = (apiVersion: string) => compareVersions(apiVersion, '1.44') < 0;

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Docker's full container-config shape with the image's values. */
export function containerConfig(c: OciContainerConfig | undefined): ContainerConfig {
  const out: ContainerConfig = {
    Hostname: c?.Hostname ?? '',
    Domainname: c?.Domainname ?? '',
    User: c?.User ?? '',
    AttachStdin: c?.AttachStdin ?? false,
    AttachStdout: c?.AttachStdout ?? false,
    AttachStderr: c?.AttachStderr ?? false,
  } as ContainerConfig;
  if (c?.ExposedPorts) out.ExposedPorts = c.ExposedPorts;
  Object.assign(out, {
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c?.Env ?? null,
    Cmd: c?.Cmd ?? null,
  });
  if (c?.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c?.ArgsEscaped !== undefined) out.ArgsEscaped = c.ArgsEscaped;
  Object.assign(out, {
    Image: '',
    Volumes: c?.Volumes ?? null,
    WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ?? null,
    OnBuild: c?.OnBuild ?? null,
    Labels: c?.Labels ?? null,
  });
  if (c?.StopSignal) out.StopSignal = c.StopSignal;
  return out;
}

export function imageSummary(s: DomainSummary, apiVersion: string = API_VERSION): ImageSummary {
  const out: ImageSummary = {
    Containers: s.containers,
    Created: s.created,
    Id: s.id,
    Labels: Object.keys(s.labels).length ? s.labels : null,
    ParentId: s.parentId,
    RepoDigests: s.repoDigests.length ? s.repoDigests : null,
    RepoTags: s.repoTags.length ? s.repoTags : null,
    SharedSize: -1,
    Size: s.size,
  };
  if (hasVirtualSize(apiVersion)) out.VirtualSize = s.size;
  return out;
}

export function imageInspect(d: ImageDetails, apiVersion: string = API_VERSION, graphDriverData: Record<string, string> | null = null): ImageInspect {
  const out = {
    Id: d.id,
    RepoTags: d.repoTags,
    RepoDigests: d.repoDigests,
    Parent: d.parent,
    Comment: d.comment || lastHistoryComment(d),
    Created: d.created || ZERO_TIME,
    Container: '',
    ContainerConfig: containerConfig(d.containerConfig),
    DockerVersion: d.dockerVersion,
    Author: d.author,
    Config: containerConfig(d.config),
    Architecture: d.architecture,
    ...(d.variant ? { Variant: d.variant } : {}),
    Os: d.os,
    ...(d.osVersion ? { OsVersion: d.osVersion } : {}),
    Size: d.size,
    ...(hasVirtualSize(apiVersion) ? { VirtualSize: d.size } : {}),
    GraphDriver: { Data: graphDriverData, Name: 'overlay2' },
    RootFS: { Type: d.rootfs.type, Layers: d.rootfs.diffIds },
    Metadata: { LastTagTime: d.lastTagTime ?? ZERO_TIME },
  };
  return out as ImageInspect;
}

/** An imported image's comment lives in its history ("Imported from -"), as Docker shows it. */
function lastHistoryComment(d: ImageDetails): string {
  const h = d.history;
  return h.length ? (h[h.length - 1]!.comment ?? '') : '';
}

export function imageHistory(items: ImageHistoryItem[]): ImageHistoryResponseItem[] {
  return items.map((h) => ({
    Comment: h.comment,
    Created: h.created,
    CreatedBy: h.createdBy,
    Id: h.id,
    Size: h.size,
    Tags: h.tags.length ? h.tags : null,
  }));
}
