import { BerthError } from '../../../src/common/errors.ts';
import { openContentStore } from '../../../src/content/local.ts';
import type { Digest } from '../../../src/content/types.ts';
import type { Descriptor, ImageManifest } from '../../../src/oci/image-spec.ts';
import { parseDockerRef, tagString } from '../../../src/image/reference.ts';
import type { ArchiveImageStore, ResolvedImage } from '../../../src/image/archive/types.ts';

/**
 * The smallest ArchiveImageStore over a real LocalContentStore: tags in
 * memory. Used until the image service's own store lands; it checks what
 * addImage must guarantee (manifest, config and layers present) so tests
 * fail if load/import register an image before its blobs are in.
 */
export async function openTestStore(root: string): Promise<ArchiveImageStore & { tags: Map<string, Digest>; images: Map<Digest, Descriptor> }> {
  const content = await openContentStore(root);
  const images = new Map<Digest, Descriptor>();
  const tags = new Map<string, Digest>();
  return {
    content,
    images,
    tags,
    async addImage({ manifest, tags: newTags }) {
      const parsed = JSON.parse((await content.readBytes(manifest.digest)).toString()) as ImageManifest;
      for (const blob of [parsed.config, ...parsed.layers]) {
        if (!(await content.has(blob.digest))) throw new Error(`addImage: blob ${blob.digest} missing`);
      }
      const id = parsed.config.digest;
      images.set(id, manifest);
      for (const tag of newTags) tags.set(tag, id);
      return { id };
    },
    async resolveImage(nameOrId): Promise<ResolvedImage> {
      let id: Digest | undefined;
      const hex = nameOrId.replace(/^sha256:/, '');
      if (/^[a-f0-9]{12,64}$/.test(hex)) id = [...images.keys()].find((k) => k.slice(7).startsWith(hex));
      if (!id) {
        try {
          id = tags.get(tagString(parseDockerRef(nameOrId) as { domain: string; path: string; tag: string }));
        } catch {
          /* not a name */
        }
      }
      if (!id) throw new BerthError('BERTH_IMAGE_NOT_FOUND', `No such image: ${nameOrId}`, { status: 404 });
      return { id, manifest: images.get(id)!, repoTags: [...tags].filter(([, v]) => v === id).map(([k]) => k) };
    },
  };
}
