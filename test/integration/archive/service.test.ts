import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { ImageService } from '../../../src/image/service.ts';
import { importRootfs, loadImages, saveImages } from '../../../src/image/archive/index.ts';

/**
 * Import, save and load through the real image service: images come out
 * registered, listed under their tags and unpacked into snapshots, ready for
 * a container.
 */
describe('archives through ImageService', () => {
  let work = '';
  let tar = '';
  before(async () => {
    work = await makeTempDir('berth-archive-service-');
    tar = join(work, 'busybox.tar');
    await makeBusyboxTar(work, tar);
  });
  after(async () => {
    await removeTempDir(work);
  });

  async function service(name: string): Promise<ImageService> {
    return ImageService.open(join(work, name));
  }

  test('import, then save both formats and load each into a fresh data root', async () => {
    const src = await service('src');
    const imported = await importRootfs(src, createReadStream(tar), { ref: 'berth/busybox:svc', changes: ['CMD ["sh"]'] });
    const listed = await src.list();
    assert.ok(listed.some((i) => i.id === imported.id), 'listed');
    const ready = await src.imageForContainer('berth/busybox:svc');
    assert.equal(ready.id, imported.id);
    assert.equal(ready.chainId, imported.diffId, 'one layer: chain ID is the diff ID');
    assert.deepEqual(ready.config.config?.Cmd, ['sh']);

    for (const format of ['docker', 'oci'] as const) {
      const file = join(work, `svc-${format}.tar`);
      await pipeline(await saveImages(src, ['berth/busybox:svc'], { format }), createWriteStream(file));
      const dst = await service(`dst-${format}`);
      const events: string[] = [];
      const loaded = await loadImages(dst, createReadStream(file), { onProgress: (e) => events.push(e.status) });
      assert.deepEqual(loaded.loaded, ['berth/busybox:svc'], format);
      const details = await dst.inspect('berth/busybox:svc');
      assert.equal(details.id, imported.id, format);
      const dstReady = await dst.imageForContainer('berth/busybox:svc');
      assert.equal(dstReady.chainId, imported.diffId, format);
      // The unpacked layer has busybox in it.
      assert.ok(existsSync(join(work, `dst-${format}`, 'snapshots')), format);
      assert.ok(events.includes('Loading layer'), format);
      // Nothing left in the scratch area.
      assert.deepEqual((await readdir(join(work, `dst-${format}`, 'ingest'))).filter((x) => x.startsWith('load-')), [], format);
    }
  });
});
