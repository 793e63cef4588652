/**
 * The whole routing table of berthd, built from the engine's services.
 * Each endpoint group lives in its own *-routes.ts file.
 */
import type { Engine } from './engine.ts';
import { Router } from './router.ts';
import { addSystemRoutes } from './system-routes.ts';
import { addImageRoutes } from './image-routes.ts';
import { checkLogin } from './auth.ts';
import { addEventRoutes } from './events.ts';
import { join } from 'node:path';
import { addContainerDataRoutes, addContainerRoutes } from './container-routes.ts';
import { addExecRoutes } from './exec-routes.ts';
import { addSystemDfRoute } from './system-df.ts';
import { addVolumeRoutes } from './volume-routes.ts';
import { addNetworkRoutes } from './network-routes.ts';

/** /info's Containers, ContainersRunning, ContainersPaused, ContainersStopped. */
function containerCounts(engine: Engine): { total: number; running: number; paused: number; stopped: number } {
  const all = engine.containers.list({ all: true });
  const paused = all.filter((c) => c.State.Paused).length;
  const running = all.filter((c) => c.State.Running).length - paused;
  return { total: all.length, running, paused, stopped: all.length - running - paused };
}

export function buildRouter(engine: Engine): Router {
  const router = new Router();
  addSystemRoutes(router, {
    info: {
      id: engine.info.id,
      dataRoot: engine.info.dataRoot,
      insecureRegistries: engine.info.insecureRegistries,
      debug: engine.info.debug,
      ...(engine.info.initBinary ? { initBinary: engine.info.initBinary } : {}),
      imageCount: async () => engine.images.images.list().length,
      containerCounts: () => containerCounts(engine),
    },
    login: (auth) => checkLogin(auth, engine.info.insecureRegistries),
  });
  addImageRoutes(router, engine.images, { tmpDir: join(engine.info.dataRoot, 'tmp'), events: engine.events });
  addEventRoutes(router, engine.events);
  addContainerRoutes(router, { containers: engine.containers, images: engine.images });
  addContainerDataRoutes(router, { containers: engine.containers, images: engine.images, events: engine.events });
  addExecRoutes(router, engine.containers);
  addSystemDfRoute(router, { containers: engine.containers, images: engine.images, volumes: engine.volumes });
  addVolumeRoutes(router, engine.volumes);
  addNetworkRoutes(router, engine.networks);
  return router;
}
