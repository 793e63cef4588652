import { join } from 'node:path';
import { openContentStore } from '../../../src/content/local.ts';
import type { Digest } from '../../../src/content/types.ts';
import type { Descriptor } from '../../../src/oci/image-spec.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { archiveImageStore } from '../../../src/image/archive/image-store-adapter.ts';
import type { ArchiveImageStore } from '../../../src/image/archive/types.ts';

/**
 * A real data root for archive tests: berth's content store (<root>/ingest,
 * blobs, index.json) and image database (<root>/images.json), joined by the
 * archive adapter. `tags` and `images` read the database back.
 */
export async function openTestStore(root: string): Promise<ArchiveImageStore & { tags: Map<string, Digest>; images: Map<Digest, Descriptor>; db: ImageStore }> {
  const content = await openContentStore(root);
  const db = await ImageStore.open(root, { ociIndexPath: join(root, 'index.json') });
  const store = archiveImageStore(content, db);
  return {
    ...store,
    db,
    get tags() {
      return new Map(db.list().flatMap((rec) => rec.repoTags.map((t) => [t, rec.id] as [string, Digest])));
    },
    get images() {
      return new Map(db.list().map((rec) => [rec.id, rec.manifests[0]!.manifest] as [Digest, Descriptor]));
    },
  };
}
