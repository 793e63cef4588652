/**
 * What the image endpoints need from the image service, in domain terms.
 * src/api/image-service-backend.ts implements it over src/image/service.ts;
 * the routes in image-routes.ts speak only this, so the mapping to Docker's
 * wire format stays in one layer.
 */
import type { Readable, Writable } from 'node:stream';
import type { ProgressSink } from '../common/progress.ts';
import type { AuthConfig, ImageDeleteResponseItem } from './types.ts';
import type { ImageFacts } from './image-json.ts';

export interface PullRequest {
  /** Normalised reference with tag or digest (docker.io/library/busybox:latest). */
  reference: string;
  platform?: string;
  auth?: AuthConfig;
  onProgress: ProgressSink;
  signal?: AbortSignal;
}

export interface PullOutcome {
  /** Digest of the manifest (or index) pulled: "Digest: sha256:…". */
  digest: string;
  /** False when the image was already up to date ("Image is up to date for …"). */
  downloaded: boolean;
}

export interface PushRequest {
  /** Normalised name:tag to push. */
  reference: string;
  auth?: AuthConfig;
  onProgress: ProgressSink;
  signal?: AbortSignal;
}

export interface PushOutcome {
  tag: string;
  digest: string;
  size: number;
}

export interface ImportRequest {
  source: Readable;
  /** Normalised name:tag, if the image is to be tagged. */
  reference?: string;
  changes: string[];
  message?: string;
  platform?: string;
  onProgress?: ProgressSink;
}

export interface ImageBackend {
  list(): Promise<ImageFacts[]>;
  /** By name, full or short id, or name@digest; throws a 404 BerthError ("No such image: …"). */
  inspect(nameOrId: string): Promise<ImageFacts>;
  tag(source: string, target: string): Promise<void>;
  remove(nameOrId: string, options: { force: boolean; noPrune: boolean }): Promise<ImageDeleteResponseItem[]>;
  /** Remove images matching `keep === false`; returns what went and the bytes freed. */
  prune(select: (image: ImageFacts) => boolean): Promise<{ deleted: ImageDeleteResponseItem[]; spaceReclaimed: number }>;
  pull(req: PullRequest): Promise<PullOutcome>;
  push(req: PushRequest): Promise<PushOutcome>;
  importImage(req: ImportRequest): Promise<{ id: string }>;
  save(names: string[], out: Writable, options: { platform?: string }): Promise<void>;
  load(source: Readable, options: { onProgress?: ProgressSink }): Promise<{ loaded: string[] }>;
}
