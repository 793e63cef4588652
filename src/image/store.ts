import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { writeJsonAtomic } from '../common/atomic-write.ts';
import { isDigest, parseDigest } from '../content/digest.ts';
import type { Digest } from '../content/types.ts';
import { Annotations, MediaTypes, type Descriptor, type ImageIndex } from '../oci/image-spec.ts';
import {
  digestString,
  parseDockerRef,
  parseReference,
  referenceName,
  tagString,
  type ImageReference,
} from './reference.ts';

/**
 * The local image database: which images exist and which names point at
 * them. An image is identified by its ID, the digest of its config (as in
 * Docker), and remembers the manifest(s) it was obtained with, its tags
 * (repo:tag) and digest references (repo@sha256 of the manifest or index a
 * registry knows it by). Names are stored fully normalised
 * (docker.io/library/busybox:latest); callers show familiar forms.
 *
 * The whole database is one JSON file written atomically, so a crash leaves
 * either the old state or the new one. It also keeps the content store's
 * OCI index.json in step, so the content directory is a valid OCI layout
 * other tools (skopeo, umoci) can read.
 */

export interface ManifestRecord {
  /** The image manifest (a single-platform manifest, never an index). */
  manifest: Descriptor;
  /** The index / manifest list it was selected from, if any (its digest is the repo digest). */
  index?: Descriptor;
}

export interface ImageRecord {
  /** Config digest. */
  id: Digest;
  manifests: ManifestRecord[];
  /** Full normalised "domain/path:tag", most recently tagged last. */
  repoTags: string[];
  /** Full normalised "domain/path@sha256:…". */
  repoDigests: string[];
  /** Image this one was built on (local builds only). */
  parent?: Digest;
  /** Bytes of the unpacked layers when known, else of the layer blobs. */
  size: number;
  /** When the image was added to this store (ISO 8601). */
  addedAt: string;
  /** When a tag was last added (ISO 8601), Docker's Metadata.LastTagTime. */
  lastTagTime?: string;
}

export interface AddImageInput {
  id: Digest;
  manifest: Descriptor;
  index?: Descriptor;
  /** References to tag (any form parseDockerRef accepts); tags elsewhere move here. */
  tags?: string[];
  /** Digest references (name@sha256:…) to record. */
  digests?: string[];
  parent?: Digest;
  size?: number;
}

interface DatabaseFile {
  version: 1;
  images: ImageRecord[];
}

const DB_VERSION = 1;

function notFound(what: string): BerthError {
  return new BerthError('BERTH_IMAGE_NOT_FOUND', `No such image: ${what}`, { status: 404, detail: { image: what } });
}

export class ImageStore {
  readonly path: string;
  private readonly ociIndexPath: string | undefined;
  private images = new Map<Digest, ImageRecord>();
  /** Mutations run one at a time so each persisted state is complete. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, ociIndexPath: string | undefined) {
    this.path = path;
    this.ociIndexPath = ociIndexPath;
  }

  /**
   * Open the database at `<dir>/images.json`. `ociIndexPath`, when given, is
   * the content store's index.json, rewritten after every change.
   */
  static async open(dir: string, options: { ociIndexPath?: string } = {}): Promise<ImageStore> {
    const store = new ImageStore(join(dir, 'images.json'), options.ociIndexPath);
    let text: string | undefined;
    try {
      text = await readFile(store.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) store.load(text);
    return store;
  }

  private load(text: string): void {
    let doc: DatabaseFile;
    try {
      doc = JSON.parse(text) as DatabaseFile;
    } catch (err) {
      throw new BerthError('BERTH_IMAGE_DB_CORRUPT', `image database ${this.path} is not valid JSON: ${(err as Error).message}`);
    }
    if (!doc || doc.version !== DB_VERSION || !Array.isArray(doc.images)) {
      throw new BerthError('BERTH_IMAGE_DB_CORRUPT', `image database ${this.path} has an unknown format (version ${JSON.stringify(doc?.version)})`);
    }
    for (const rec of doc.images) {
      if (!isDigest(rec.id) || !Array.isArray(rec.manifests) || !Array.isArray(rec.repoTags) || !Array.isArray(rec.repoDigests)) {
        throw new BerthError('BERTH_IMAGE_DB_CORRUPT', `image database ${this.path} has a malformed record ${JSON.stringify(rec?.id)}`);
      }
      this.images.set(rec.id, rec);
    }
  }

  // --- reads ----------------------------------------------------------------

  list(): ImageRecord[] {
    return [...this.images.values()].map(clone);
  }

  get(id: Digest): ImageRecord | undefined {
    const rec = this.images.get(id);
    return rec && clone(rec);
  }

  /**
   * Find an image the way Docker does: by name[:tag] (default :latest), by
   * name@digest (a recorded repo digest, or a manifest digest of an image of
   * that repository), by full ID ("sha256:…" or 64 hex), or by a unique
   * prefix of the ID ("3f57d9401f8d", "sha256:3f57"). Throws
   * BERTH_IMAGE_NOT_FOUND (404) or BERTH_IMAGE_AMBIGUOUS (400).
   */
  resolve(nameOrId: string): ImageRecord {
    const rec = this.find(nameOrId);
    if (!rec) throw notFound(nameOrId);
    return clone(rec);
  }

  /** Like resolve() but undefined when nothing matches (ambiguity still throws). */
  tryResolve(nameOrId: string): ImageRecord | undefined {
    const rec = this.find(nameOrId);
    return rec && clone(rec);
  }

  private find(input: string): ImageRecord | undefined {
    if (typeof input !== 'string' || input === '') throw notFound(String(input));
    // A full ID, with or without the algorithm.
    const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(input);
    if (full) {
      const byId = this.images.get(`sha256:${full[1]}`);
      if (byId) return byId;
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input);
    let ref: ImageReference | undefined;
    if (!full && !input.startsWith('sha256:')) {
      try {
        ref = parseDockerRef(input);
      } catch (err) {
        // Not a name: fine if it is an ID prefix, otherwise say what is wrong with it.
        if (!prefix) throw err;
      }
    }
    if (ref) {
      const byRef = this.findByReference(ref);
      if (byRef) return byRef;
    }
    // Short ID: hex prefix, optionally with "sha256:".
    if (prefix) return this.findByIdPrefix(prefix[1]!, input);
    return undefined;
  }

  private findByReference(ref: ImageReference): ImageRecord | undefined {
    if (ref.digest !== undefined) {
      const wanted = digestString(ref as ImageReference & { digest: Digest });
      const name = referenceName(ref);
      for (const rec of this.images.values()) if (rec.repoDigests.includes(wanted)) return rec;
      // An image of that repository whose manifest or index has this digest.
      for (const rec of this.images.values()) {
        const ofRepo = rec.repoTags.some((t) => t.startsWith(name + ':')) || rec.repoDigests.some((d) => d.startsWith(name + '@'));
        if (ofRepo && rec.manifests.some((m) => m.manifest.digest === ref.digest || m.index?.digest === ref.digest)) return rec;
      }
      return undefined;
    }
    const wanted = tagString(ref as ImageReference & { tag: string });
    for (const rec of this.images.values()) if (rec.repoTags.includes(wanted)) return rec;
    return undefined;
  }

  private findByIdPrefix(hexPrefix: string, input: string): ImageRecord | undefined {
    const matches = [...this.images.values()].filter((r) => r.id.startsWith(`sha256:${hexPrefix}`));
    if (matches.length > 1) {
      throw new BerthError('BERTH_IMAGE_AMBIGUOUS', `multiple images found with provided prefix: ${input}`, {
        status: 400,
        detail: { matches: matches.map((m) => m.id) },
      });
    }
    return matches[0];
  }

  /** The image a full tag ("docker.io/library/busybox:latest") points at. */
  imageForTag(tag: string): ImageRecord | undefined {
    for (const rec of this.images.values()) if (rec.repoTags.includes(tag)) return clone(rec);
    return undefined;
  }

  // --- writes -----------------------------------------------------------------

  /**
   * Add an image, or merge into the existing record with the same ID (a
   * second manifest for the same config, more tags or digests). Tags that
   * point at other images move to this one.
   */
  add(input: AddImageInput): Promise<ImageRecord> {
    return this.mutate(() => {
      const id = parseDigest(input.id, 'image id');
      const tags = (input.tags ?? []).map(normaliseTag);
      const digests = (input.digests ?? []).map(normaliseDigestRef);
      let rec = this.images.get(id);
      const now = new Date().toISOString();
      if (!rec) {
        rec = { id, manifests: [], repoTags: [], repoDigests: [], size: input.size ?? 0, addedAt: now };
        this.images.set(id, rec);
      }
      if (input.size !== undefined) rec.size = input.size;
      if (input.parent !== undefined) rec.parent = input.parent;
      const known = rec.manifests.find((m) => m.manifest.digest === input.manifest.digest);
      if (known) {
        if (input.index) known.index = input.index;
      } else {
        rec.manifests.push(input.index ? { manifest: input.manifest, index: input.index } : { manifest: input.manifest });
      }
      for (const tag of tags) this.attachTag(rec, tag, now);
      for (const d of digests) if (!rec.repoDigests.includes(d)) rec.repoDigests.push(d);
      return clone(rec);
    });
  }

  /** Point `target` (a name[:tag]) at image `id`, moving it from any other image. */
  tag(id: Digest, target: string): Promise<string> {
    return this.mutate(() => {
      const rec = this.images.get(id);
      if (!rec) throw notFound(id);
      const tag = normaliseTag(target);
      this.attachTag(rec, tag, new Date().toISOString());
      return tag;
    });
  }

  /**
   * Remove one name (repo:tag or repo@digest, full normalised form) from the
   * image carrying it. Returns the image ID, or undefined if no image has it.
   */
  untag(name: string): Promise<Digest | undefined> {
    return this.mutate(() => {
      for (const rec of this.images.values()) {
        const t = rec.repoTags.indexOf(name);
        if (t !== -1) {
          rec.repoTags.splice(t, 1);
          return rec.id;
        }
        const d = rec.repoDigests.indexOf(name);
        if (d !== -1) {
          rec.repoDigests.splice(d, 1);
          return rec.id;
        }
      }
      return undefined;
    });
  }

  /** Drop the image record itself (its blobs go with the next garbage collection). */
  delete(id: Digest): Promise<boolean> {
    return this.mutate(() => this.images.delete(id));
  }

  setSize(id: Digest, size: number): Promise<void> {
    return this.mutate(() => {
      const rec = this.images.get(id);
      if (rec) rec.size = size;
    });
  }

  private attachTag(rec: ImageRecord, tag: string, now: string): void {
    for (const other of this.images.values()) {
      if (other === rec) continue;
      const i = other.repoTags.indexOf(tag);
      if (i !== -1) other.repoTags.splice(i, 1);
    }
    const i = rec.repoTags.indexOf(tag);
    if (i !== -1) rec.repoTags.splice(i, 1);
    rec.repoTags.push(tag);
    rec.lastTagTime = now;
  }

  private mutate<T>(change: () => T): Promise<T> {
    const run = this.queue.then(async () => {
      const before = new Map([...this.images].map(([k, v]) => [k, clone(v)]));
      let result: T;
      try {
        result = change();
        await this.persist();
      } catch (err) {
        this.images = before; // a failed change (bad input, disk full) leaves memory as on disk
        throw err;
      }
      return result;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async persist(): Promise<void> {
    const images = [...this.images.values()].sort((a, b) => a.addedAt.localeCompare(b.addedAt) || a.id.localeCompare(b.id));
    const doc: DatabaseFile = { version: DB_VERSION, images };
    await writeJsonAtomic(this.path, doc);
    if (this.ociIndexPath) await writeJsonAtomic(this.ociIndexPath, this.ociIndex(images));
  }

  /** index.json of the content store as an OCI layout: one entry per manifest per tag. */
  private ociIndex(images: ImageRecord[]): ImageIndex {
    const manifests: Descriptor[] = [];
    for (const rec of images) {
      for (const m of rec.manifests) {
        const base: Descriptor = { mediaType: m.manifest.mediaType, digest: m.manifest.digest, size: m.manifest.size };
        if (m.manifest.platform) base.platform = m.manifest.platform;
        if (rec.repoTags.length === 0) {
          manifests.push(base);
          continue;
        }
        for (const tag of rec.repoTags) {
          const ref = parseReference(tag);
          manifests.push({ ...base, annotations: { [Annotations.containerdImageName]: tag, [Annotations.refName]: ref.tag ?? 'latest' } });
        }
      }
    }
    return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }
}

function normaliseTag(input: string): string {
  const ref = parseDockerRef(input);
  if (ref.digest !== undefined) {
    throw new BerthError('BERTH_IMAGE_TAG_WITH_DIGEST', `refusing to create a tag with a digest reference: ${input}`, { status: 400 });
  }
  return tagString(ref as ImageReference & { tag: string });
}

function normaliseDigestRef(input: string): string {
  const ref = parseReference(input);
  if (ref.digest === undefined) {
    throw new BerthError('BERTH_IMAGE_INVALID_DIGEST_REFERENCE', `expected a name@sha256:… reference, got ${input}`, { status: 400 });
  }
  return digestString(ref as ImageReference & { digest: Digest });
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
