import type { BlobInfo, ContentStore, Digest } from '../content/types.ts';
import { isBerthError } from '../common/errors.ts';
import { chainIds } from './chain-id.ts';
import { parseImageConfig, parseManifest } from './manifest.ts';
import type { ImageRecord } from './store.ts';

/**
 * Garbage collection, mark and sweep: every blob reachable from an image
 * record (index, manifest, config, layers) is live, and so is every layer
 * chain those images stack up; the rest of the content store — and, when a
 * snapshot catalogue is given, every unpacked snapshot no image and no
 * container uses — is deleted. The caller must keep writers out while this
 * runs (ImageService holds its GC lock), or a blob written between mark and
 * sweep would be taken.
 */

/** What GC needs from the snapshot area: snapshots are keyed by chain ID and know their parent. */
export interface SnapshotCatalog {
  list(): Promise<Array<{ chainId: Digest; parent?: Digest; size?: number }>>;
  /** Remove one snapshot; may return the bytes it freed (else the listed size counts). */
  remove(chainId: Digest): Promise<number | void>;
}

export interface GcOptions {
  content: ContentStore;
  images: readonly ImageRecord[];
  /** More blobs to keep (e.g. of an operation in progress). */
  extraRoots?: Iterable<Digest>;
  /** True for chain IDs containers still use: they and their parents are never removed. */
  inUse?: (chainId: Digest) => boolean | Promise<boolean>;
  snapshots?: SnapshotCatalog;
  /** Report what would be deleted without deleting. */
  dryRun?: boolean;
}

export interface GcResult {
  deletedBlobs: BlobInfo[];
  deletedSnapshots: Digest[];
  /** Bytes of deleted blobs plus the sizes snapshots reported. */
  spaceReclaimed: number;
  referencedBlobs: Set<Digest>;
  referencedChainIds: Set<Digest>;
}

export interface References {
  blobs: Set<Digest>;
  chainIds: Set<Digest>;
}

/** Mark: the blobs and layer chains reachable from the image records. */
export async function referencedContent(content: ContentStore, images: readonly ImageRecord[]): Promise<References> {
  const blobs = new Set<Digest>();
  const chains = new Set<Digest>();
  for (const rec of images) {
    blobs.add(rec.id);
    for (const m of rec.manifests) {
      blobs.add(m.manifest.digest);
      if (m.index) blobs.add(m.index.digest);
      const bytes = await readIfPresent(content, m.manifest.digest);
      if (!bytes) continue; // a damaged image keeps what is left of it; nothing more to mark
      const parsed = parseManifest(bytes, m.manifest.mediaType);
      if (parsed.kind !== 'manifest') continue;
      blobs.add(parsed.manifest.config.digest);
      for (const layer of parsed.manifest.layers) blobs.add(layer.digest);
    }
    const configBytes = await readIfPresent(content, rec.id);
    if (configBytes) {
      for (const c of chainIds(parseImageConfig(configBytes).rootfs.diff_ids)) chains.add(c);
    }
  }
  return { blobs, chainIds: chains };
}

/** Mark and sweep. */
export async function collectGarbage(options: GcOptions): Promise<GcResult> {
  const { content, images, dryRun = false } = options;
  const refs = await referencedContent(content, images);
  for (const d of options.extraRoots ?? []) refs.blobs.add(d);

  const deletedBlobs: BlobInfo[] = [];
  let spaceReclaimed = 0;
  for await (const blob of content.list()) {
    if (refs.blobs.has(blob.digest)) continue;
    if (!dryRun) {
      try {
        await content.delete(blob.digest);
      } catch (err) {
        if (!isBerthError(err, 'BERTH_CONTENT_NOT_FOUND')) throw err;
        continue; // gone already
      }
    }
    deletedBlobs.push(blob);
    spaceReclaimed += blob.size;
  }

  const deletedSnapshots: Digest[] = [];
  if (options.snapshots) {
    const all = await options.snapshots.list();
    const byId = new Map(all.map((s) => [s.chainId, s]));
    const keep = new Set<Digest>();
    const keepWithParents = (id: Digest) => {
      for (let cur: Digest | undefined = id; cur && !keep.has(cur); cur = byId.get(cur)?.parent) keep.add(cur);
    };
    for (const s of all) {
      if (refs.chainIds.has(s.chainId) || (options.inUse && (await options.inUse(s.chainId)))) keepWithParents(s.chainId);
    }
    const depth = (id: Digest): number => {
      let n = 0;
      for (let cur = byId.get(id)?.parent; cur; cur = byId.get(cur)?.parent) n++;
      return n;
    };
    // Children before parents, so no snapshot loses its lower layers while it exists.
    const doomed = all.filter((s) => !keep.has(s.chainId)).sort((a, b) => depth(b.chainId) - depth(a.chainId));
    for (const s of doomed) {
      const freed = dryRun ? undefined : await options.snapshots.remove(s.chainId);
      deletedSnapshots.push(s.chainId);
      spaceReclaimed += typeof freed === 'number' ? freed : (s.size ?? 0);
    }
  }

  return { deletedBlobs, deletedSnapshots, spaceReclaimed, referencedBlobs: refs.blobs, referencedChainIds: refs.chainIds };
}

async function readIfPresent(content: ContentStore, digest: Digest): Promise<Buffer | undefined> {
  try {
    return await content.readBytes(digest);
  } catch (err) {
    if (isBerthError(err, 'BERTH_CONTENT_NOT_FOUND')) return undefined;
    throw err;
  }
}
