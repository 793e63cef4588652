/**
 * Offline garbage collection of a registry root, with distribution's
 * `garbage-collect` rule: a blob lives while a manifest stored in some
 * repository is it or references it (config, layers, an index's manifests);
 * every other blob — layers of deleted images, uploads no manifest ever
 * named — is deleted from the registry's content store, and repository links
 * to it are dropped. It takes the root's lock, so it refuses to run while a
 * server has the root (a push between its blobs and its manifest would
 * otherwise lose its blobs).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobInfo, Digest } from '../content/types.ts';
import { openContentStore } from '../content/local.ts';
import { isBerthError } from '../common/errors.ts';
import { parseManifest } from './manifest.ts';
import { RepositoryMetadata } from './repositories.ts';
import { lockRegistryRoot } from './root-lock.ts';

export interface GarbageCollectOptions {
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
}

export interface GarbageCollectResult {
  /** Blobs kept (still referenced). */
  kept: number;
  /** Blobs deleted (or that would be, with dryRun). */
  removed: BlobInfo[];
  freedBytes: number;
}

export async function collectGarbage(root: string, options: GarbageCollectOptions = {}): Promise<GarbageCollectResult> {
  const lock = await lockRegistryRoot(root, 'collect garbage');
  try {
    const store = await openContentStore(join(root, 'content'));
    const meta = new RepositoryMetadata(root);
    const marked = new Set<string>();
    const repositories = await meta.listRepositories();
    for (const name of repositories) {
      const dir = meta.dir(name);
      for (const file of await listHex(join(dir, '_manifests', 'revisions'), '.json')) {
        const digest = `sha256:${file}` as Digest;
        marked.add(digest);
        let bytes: Buffer;
        try {
          bytes = await store.readBytes(digest);
        } catch (err) {
          if (isBerthError(err, 'BERTH_CONTENT_NOT_FOUND')) continue;
          throw err;
        }
        // Stored manifests were validated when pushed.
        const parsed = parseManifest(bytes, undefined);
        for (const d of [...parsed.blobs, ...parsed.manifests]) marked.add(d.digest);
      }
    }
    const removed: BlobInfo[] = [];
    let kept = 0;
    for await (const info of store.list()) {
      if (marked.has(info.digest)) {
        kept++;
        continue;
      }
      removed.push(info);
    }
    if (!options.dryRun) {
      for (const info of removed) {
        await store.delete(info.digest).catch((err: unknown) => {
          if (!isBerthError(err, 'BERTH_CONTENT_NOT_FOUND')) throw err;
        });
      }
      const gone = new Set(removed.map((b) => b.digest));
      for (const name of repositories) {
        for (const hex of await listHex(join(meta.dir(name), '_layers'))) {
          const digest = `sha256:${hex}` as Digest;
          if (gone.has(digest)) await meta.unlinkBlob(name, digest);
        }
      }
    }
    return { kept, removed, freedBytes: removed.reduce((n, b) => n + b.size, 0) };
  } finally {
    await lock.release();
  }
}

async function listHex(dir: string, suffix = ''): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const re = new RegExp(`^([a-f0-9]{64})${suffix.replace('.', '\\.')}$`);
  return entries.flatMap((e) => {
    const m = re.exec(e);
    return m ? [m[1]!] : [];
  });
}
