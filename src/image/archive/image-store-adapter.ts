import type { ContentStore } from '../../content/types.ts';
import type { ImageManifest } from '../../oci/image-spec.ts';
import type { ImageStore } from '../store.ts';
import { hostPlatform } from '../platform.ts';
import type { ArchiveImageStore, ResolvedImage } from './types.ts';

/**
 * The ArchiveImageStore contract on berth's content store and image database
 * (src/image/store.ts). `afterAdd` lets the owner of both (the image service)
 * do what registration implies beyond the database, e.g. unpack layers into
 * snapshots, before import/load report success.
 */
export function archiveImageStore(
  content: ContentStore,
  images: ImageStore,
  options: { afterAdd?: (id: ResolvedImage) => Promise<void> } = {},
): ArchiveImageStore {
  return {
    content,
    async addImage({ manifest, tags }) {
      const parsed = JSON.parse((await content.readBytes(manifest.digest)).toString('utf8')) as ImageManifest;
      const size = parsed.layers.reduce((sum, l) => sum + l.size, 0);
      const rec = await images.add({ id: parsed.config.digest, manifest, tags, size });
      await options.afterAdd?.({ id: rec.id, manifest, repoTags: rec.repoTags });
      return { id: rec.id };
    },
    async resolveImage(nameOrId) {
      const rec = images.resolve(nameOrId);
      // An image known by several manifests (pulled and loaded) is saved by the host platform's, else the first.
      const host = hostPlatform();
      const pick = rec.manifests.find((m) => m.manifest.platform?.os === host.os && m.manifest.platform?.architecture === host.architecture) ?? rec.manifests[0];
      if (!pick) throw new Error(`image ${rec.id} has no manifest record`);
      return { id: rec.id, manifest: pick.manifest, repoTags: rec.repoTags };
    },
  };
}
