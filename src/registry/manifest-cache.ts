/**
 * Manifest bytes by digest, bounded by total size. Content addressing makes
 * this safe without invalidation: the bytes of a digest never change, and
 * whether a repository may see them is still decided by its metadata on every
 * request. Eviction is oldest-inserted first (Map keeps insertion order).
 */
import type { Digest } from '../content/types.ts';

export class ManifestCache {
  private readonly maxBytes: number;
  private readonly entries = new Map<Digest, Buffer>();
  private bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get(digest: Digest): Buffer | undefined {
    return this.entries.get(digest);
  }

  set(digest: Digest, value: Buffer): void {
    if (value.length > this.maxBytes || this.entries.has(digest)) return;
    this.entries.set(digest, value);
    this.bytes += value.length;
    for (const [key, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= old.length;
    }
  }
}
