/**
 * /volumes: docker volume ls|create|inspect|rm|prune (Engine API v1.41+
 * shapes and statuses: 201 on create, 204 on delete, 404 "no such volume",
 * 409 while a container refers to it).
 */
import type { Router } from './router.ts';
import type { VolumeService } from '../container/volumes.ts';
import type { VolumeCreateOptions, VolumeListResponse } from './volume-types.ts';
import { compareVersions } from './version.ts';

export function addVolumeRoutes(router: Router, volumes: VolumeService): void {
  router.get('/volumes', async (ctx) => {
    const answer: VolumeListResponse = { Volumes: await volumes.list(ctx.filters()), Warnings: null };
    ctx.sendJson(200, answer);
  });

  router.post('/volumes/create', async (ctx) => {
    const body = (await ctx.json<VolumeCreateOptions>()) ?? {};
    ctx.sendJson(201, await volumes.create(body));
  });

  router.post('/volumes/prune', async (ctx) => {
    ctx.sendJson(200, await volumes.prune(ctx.filters(), compareVersions(ctx.apiVersion, '1.42') >= 0));
  });

  router.get('/volumes/{name}', async (ctx) => {
    ctx.sendJson(200, await volumes.inspect(ctx.params.name!));
  });

  router.delete('/volumes/{name}', async (ctx) => {
    await volumes.remove(ctx.params.name!, { force: ctx.flag('force') });
    ctx.res!.writeHead(204);
    ctx.res!.end();
  });
}
