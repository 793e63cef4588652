/**
 * GET /system/df (docker system df): disk usage of images, containers and
 * volumes, in Docker's shape — image summaries with their container counts,
 * container summaries with SizeRw/SizeRootFs, volumes with UsageData.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerService } from '../container/service.ts';
import type { ImageService } from '../image/service.ts';
import type { Router } from './router.ts';
import { containerSummary } from './container-json.ts';
import { imageSummary } from './image-json.ts';
import { volumeDataDir } from '../container/mounts.ts';

export interface SystemDfDeps {
  containers: ContainerService;
  images: ImageService;
  dataRoot?: string;
}

/** Bytes used by a directory tree (du counts each hard-linked file once). */
function diskUsage(dir: string): Promise<number> {
  return new Promise((resolve) => {
    execFile('du', ['-s', '-B1', '--', dir], (err, stdout) => resolve(err ? -1 : Number(stdout.split('\t')[0]) || 0));
  });
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
      const rw = snap ? await snap.usage(c.SnapshotKey).then((u) => u.size).catch(() => 0) : 0;
      containerRows.push(containerSummary(c, { sizeRw: rw, sizeRootFs: rw + (sizeOfImage.get(c.Image) ?? 0) }));
    }
    const volumes = [];
    const dataRoot = deps.dataRoot ?? deps.containers.store.root.replace(/\/containers$/, '');
    const names = await readdir(join(dataRoot, 'volumes')).catch(() => [] as string[]);
    for (const name of names) {
      const refs = containers.filter((c) =>
        (c.MountPoints ?? []).some((m) => m.Name === name),
      ).length;
      volumes.push({
        CreatedAt: '',
        Driver: 'local',
        Labels: null,
        Mountpoint: volumeDataDir(dataRoot, name),
        Name: name,
        Options: null,
        Scope: 'local',
        UsageData: { RefCount: refs, Size: await diskUsage(volumeDataDir(dataRoot, name)) },
      });
    }
    ctx.sendJson(200, {
      LayersSize: images.reduce((n, i) => n + i.size, 0),
      Images: images.map((i) => ({ ...imageSummary({ ...i, containers: users.get(i.id) ?? 0 }), SharedSize: 0 })),
      Containers: containerRows,
      Volumes: volumes,
      BuildCache: [],
    });
  });
}
