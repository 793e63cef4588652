/**
 * GET /system/df (docker system df): disk usage of images, containers and
 * volumes, in Docker's shape — image summaries with their container counts,
 * container summaries with SizeRw/SizeRootFs, volumes with UsageData.
 */
import type { ContainerService } from '../container/service.ts';
import type { ImageService } from '../image/service.ts';
import type { Router } from './router.ts';
import { containerSummary } from './container-json.ts';
import { imageSummary } from './image-json.ts';
import type { VolumeService } from '../container/volumes.ts';
import { containerSizeRw } from '../container/commit.ts';

export interface SystemDfDeps {
  containers: ContainerService;
  images: ImageService;
  volumes: VolumeService;
}

export function addSystemDfRoute(router: Router, deps: SystemDfDeps): void {
  router.get('/system/df', async (ctx) => {
    const containers = deps.containers.list({ all: true });
    const images = await deps.images.list({ all: false });
    const snap = deps.images.snapshotter;
    const users = new Map<string, number>();
    for (const c of containers) users.set(c.Image, (users.get(c.Image) ?? 0) + 1);
    const sizeOfImage = new Map<string, number>(images.map((i) => [i.id, i.size]));
    const containerRows = [];
    for (const c of containers) {
      const rw = snap ? await containerSizeRw(snap, c.SnapshotKey).catch(() => 0) : 0;
      containerRows.push(containerSummary(c, { sizeRw: rw, sizeRootFs: rw + (sizeOfImage.get(c.Image) ?? 0) }));
    }
    const volumes = await deps.volumes.usage();
    ctx.sendJson(200, {
      LayersSize: images.reduce((n, i) => n + i.size, 0),
      Images: images.map((i) => ({ ...imageSummary({ ...i, containers: users.get(i.id) ?? 0 }), SharedSize: 0 })),
      Containers: containerRows,
      Volumes: volumes,
      BuildCache: [],
    });
  });
  // berth has no builder, so no build cache: `docker system prune` (which
  // prunes it last) finds nothing to delete rather than a missing endpoint.
  router.post('/build/prune', (ctx) => {
    ctx.sendJson(200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });
}
