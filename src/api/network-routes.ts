/**
 * /networks: docker network ls|inspect|prune over berth's predefined
 * networks (none, host). Creating, connecting and disconnecting are refused
 * with 501 and a message saying what berth offers instead.
 */
import type { Router } from './router.ts';
import { notImplemented, type NetworkService } from '../network/service.ts';

export function addNetworkRoutes(router: Router, networks: NetworkService): void {
  router.get('/networks', (ctx) => {
    ctx.sendJson(200, networks.list(ctx.filters()));
  });

  router.post('/networks/create', async (ctx) => {
    const body = await ctx.json<{ Name?: string }>().catch(() => undefined);
    throw notImplemented(`cannot create network${body?.Name ? ` ${body.Name}` : ''}`);
  });

  router.post('/networks/prune', (ctx) => {
    ctx.sendJson(200, networks.prune(ctx.filters()));
  });

  router.get('/networks/{id}', (ctx) => {
    ctx.sendJson(200, networks.inspect(ctx.params.id!, ctx.query.get('scope') || undefined));
  });

  router.delete('/networks/{id}', (ctx) => {
    networks.remove(ctx.params.id!);
  });

  router.post('/networks/{id}/connect', () => {
    throw notImplemented('cannot connect a container to a network');
  });

  router.post('/networks/{id}/disconnect', () => {
    throw notImplemented('cannot disconnect a container from a network');
  });
}
