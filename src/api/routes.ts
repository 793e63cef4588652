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

export function buildRouter(engine: Engine): Router {
  const router = new Router();
  addSystemRoutes(router, {
    info: {
      id: engine.info.id,
      dataRoot: engine.info.dataRoot,
      insecureRegistries: engine.info.insecureRegistries,
      debug: engine.info.debug,
      imageCount: async () => engine.images.images.list().length,
    },
    login: (auth) => checkLogin(auth, engine.info.insecureRegistries),
  });
  addImageRoutes(router, engine.images, { tmpDir: join(engine.info.dataRoot, 'tmp'), events: engine.events });
  addEventRoutes(router, engine.events);
  return router;
}
