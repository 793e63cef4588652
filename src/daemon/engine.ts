/**
 * Opens the engine's services on a data root: what berthd owns while it runs.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.ts';
import type { Engine } from '../api/engine.ts';
import { ImageService } from '../image/service.ts';
import { EventHub } from '../api/events.ts';
import { ContainerService } from '../container/service.ts';
import { VolumeService } from '../container/volumes.ts';
import { NetworkService } from '../network/service.ts';
import { initBinary } from '../api/container-routes.ts';

export interface OpenEngineOptions {
  dataRoot: string;
  insecureRegistries: string[];
  debug: boolean;
}

/** The engine id persists so `info` reports the same ID across restarts (as Docker's does). */
async function engineId(dataRoot: string): Promise<string> {
  const path = join(dataRoot, 'engine-id');
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing) return existing;
  const id = randomUUID();
  await writeFileAtomic(path, id + '\n');
  return id;
}

export async function openEngine(opts: OpenEngineOptions): Promise<Engine> {
  await mkdir(opts.dataRoot, { recursive: true, mode: 0o711 });
  await mkdir(join(opts.dataRoot, 'tmp'), { recursive: true, mode: 0o700 });
  const images = await ImageService.open(opts.dataRoot, { insecureRegistries: opts.insecureRegistries });
  const events = new EventHub();
  const init = initBinary();
  const containers = await ContainerService.open({ dataRoot: opts.dataRoot, images, events, ...(init ? { initBinary: init } : {}) });
  const volumes = await VolumeService.open({
    dataRoot: opts.dataRoot,
    events,
    containers: () => containers.store.list(),
    findContainer: (id) => containers.store.find(id),
  });
  const id = await engineId(opts.dataRoot);
  // The predefined networks exist since the engine's first start (when its id was written).
  const firstStart = (await stat(join(opts.dataRoot, 'engine-id')).catch(() => undefined))?.mtime ?? new Date();
  const networks = new NetworkService({ containers: () => containers.store.list(), created: firstStart.toISOString() });
  return {
    images,
    events,
    containers,
    volumes,
    networks,
    info: {
      dataRoot: opts.dataRoot,
      insecureRegistries: opts.insecureRegistries,
      id,
      debug: opts.debug,
      ...(init ? { initBinary: init } : {}),
    },
  };
}

export async function closeEngine(engine: Engine): Promise<void> {
  await engine.containers.close();
}
