/**
 * The whole routing table of berthd, built from the engine's services.
 * Each endpoint group lives in its own *-routes.ts file.
 */
import type { Engine } from './engine.ts';
import { Router } from './router.ts';
import { addSystemRoutes } from './system-routes.ts';

export function buildRouter(engine: Engine): Router {
  const router = new Router();
  addSystemRoutes(router, {
    info: {
      id: engine.info.id,
      dataRoot: engine.info.dataRoot,
      insecureRegistries: engine.info.insecureRegistries,
      debug: engine.info.debug,
      imageCount: async () => 0,
    },
  });
  return router;
}
