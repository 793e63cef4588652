/**
 * Docker Engine API wire types for volumes (GET /volumes, POST
 * /volumes/create, GET /volumes/{name}, POST /volumes/prune, and the Volumes
 * of GET /system/df). Field names and nulls are moby's api/types/volume, since
 * the docker CLI, compose and the SDKs read them verbatim.
 */

/** A volume as GET /volumes/{name} and the list answer it. */
export interface Volume {
  /** RFC 3339, seconds. */
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  /** Host path of the volume's data. */
  Mountpoint: string;
  Name: string;
  /** Driver options it was created with (local: type, device, o). */
  Options: Record<string, string> | null;
  Scope: 'local' | 'global';
  Status?: Record<string, unknown>;
  /** Only in GET /system/df. Size -1 when unknown. */
  UsageData?: VolumeUsageData | null;
}

export interface VolumeUsageData {
  Size: number;
  RefCount: number;
}

/** POST /volumes/create body. */
export interface VolumeCreateOptions {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  ClusterVolumeSpec?: unknown;
}

/** GET /volumes */
export interface VolumeListResponse {
  Volumes: Volume[];
  Warnings: string[] | null;
}

/** POST /volumes/prune */
export interface VolumesPruneReport {
  VolumesDeleted: string[];
  SpaceReclaimed: number;
}
