/**
 * What the API adapter needs from the engine. berthd builds one at start;
 * tests may build one on a temp data root. Services join as they land.
 */
import type { ImageService } from '../image/service.ts';
import type { EventHub } from './events.ts';
import type { ContainerService } from '../container/service.ts';
import type { VolumeService } from '../container/volumes.ts';
import type { NetworkService } from '../network/service.ts';

export interface EngineInfo {
  dataRoot: string;
  /** Registries (host:port) where plain HTTP is allowed besides loopback. */
  insecureRegistries: string[];
  /** A stable id for this engine (persisted under the data root). */
  id: string;
  debug: boolean;
  /** berth-init for --init, when installed. */
  initBinary?: string;
}

export interface Engine {
  info: EngineInfo;
  images: ImageService;
  events: EventHub;
  containers: ContainerService;
  volumes: VolumeService;
  networks: NetworkService;
}
