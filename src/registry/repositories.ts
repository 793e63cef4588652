/**
 * Per-repository metadata under <root>/repositories/<name>/, as small files
 * written atomically (the blobs themselves live once, in the content store):
 *
 *   _layers/<hex>                       blob linked into this repository (empty file)
 *   _manifests/revisions/<hex>.json     ManifestRecord of a manifest in this repository
 *   _manifests/tags/<tag>               the digest the tag points to
 *   _referrers/<subject hex>/<hex>.json descriptor of a manifest whose subject is <subject>
 *   _uploads/<uuid>.json                an upload session in progress
 *
 * Reserved directories start with "_", which no name component can (the name
 * grammar), so a repository "a/_layers" can never collide with metadata.
 * Names and tags are validated before they reach this module.
 *
 * Tags and manifest records are also kept in memory once read (manifest GETs
 * are the hot path), and every write through this class updates that memory
 * first-hand. So one registry process owns a root at a time, as berthd owns
 * its data root; a second writer on the same root would not be seen.
 */
import { mkdir, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../content/types.ts';
import { writeFileAtomic, writeJsonAtomic } from '../common/atomic-write.ts';
import { hexOf } from './names.ts';
import type { Descriptor, ManifestRecord, UploadSession } from './types.ts';

/** Entries kept per cache before it is simply cleared (records are ~200 bytes). */
const MAX_CACHED = 100_000;

export class RepositoryMetadata {
  readonly root: string;
  private readonly tags = new Map<string, Digest>();
  private readonly records = new Map<string, ManifestRecord>();

  constructor(registryRoot: string) {
    this.root = join(registryRoot, 'repositories');
  }

  dir(name: string): string {
    return join(this.root, name);
  }

  async exists(name: string): Promise<boolean> {
    const dir = this.dir(name);
    return (await isDir(join(dir, '_layers'))) || (await isDir(join(dir, '_manifests')));
  }

  // ---- blobs -------------------------------------------------------------

  async linkBlob(name: string, digest: Digest): Promise<void> {
    const path = join(this.dir(name), '_layers', hexOf(digest));
    if (await exists(path)) return;
    await writeFileAtomic(path, '');
  }

  async hasBlob(name: string, digest: Digest): Promise<boolean> {
    return exists(join(this.dir(name), '_layers', hexOf(digest)));
  }

  /** Returns false when the blob was not linked. */
  async unlinkBlob(name: string, digest: Digest): Promise<boolean> {
    return removeFile(join(this.dir(name), '_layers', hexOf(digest)));
  }

  // ---- manifests ---------------------------------------------------------

  private revisionPath(name: string, digest: Digest): string {
    return join(this.dir(name), '_manifests', 'revisions', `${hexOf(digest)}.json`);
  }

  async putManifest(name: string, record: ManifestRecord): Promise<void> {
    await writeJsonAtomic(this.revisionPath(name, record.digest), record);
    remember(this.records, `${name}@${record.digest}`, record);
    if (record.subject) {
      const descriptor: Descriptor = { mediaType: record.mediaType, digest: record.digest, size: record.size };
      if (record.artifactType) descriptor.artifactType = record.artifactType;
      if (record.annotations) descriptor.annotations = record.annotations;
      await writeJsonAtomic(join(this.dir(name), '_referrers', hexOf(record.subject), `${hexOf(record.digest)}.json`), descriptor);
    }
  }

  async getManifest(name: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const key = `${name}@${digest}`;
    const cached = this.records.get(key);
    if (cached) return cached;
    const text = await readFile(this.revisionPath(name, digest), 'utf8').catch(ignoreMissing);
    if (text === undefined) return undefined;
    const record = JSON.parse(text) as ManifestRecord;
    remember(this.records, key, record);
    return record;
  }

  /** Remove the manifest, every tag pointing at it, and its referrers entry. False if absent. */
  async deleteManifest(name: string, digest: Digest): Promise<boolean> {
    const record = await this.getManifest(name, digest);
    if (!record) return false;
    for (const tag of await this.listTags(name)) {
      if ((await this.resolveTag(name, tag)) === digest) await this.deleteTag(name, tag);
    }
    if (record.subject) {
      await removeFile(join(this.dir(name), '_referrers', hexOf(record.subject), `${hexOf(digest)}.json`));
    }
    this.records.delete(`${name}@${digest}`);
    await removeFile(this.revisionPath(name, digest));
    return true;
  }

  // ---- tags --------------------------------------------------------------

  private tagPath(name: string, tag: string): string {
    return join(this.dir(name), '_manifests', 'tags', tag);
  }

  async setTag(name: string, tag: string, digest: Digest): Promise<void> {
    // Forget first: if the write fails half-way, the next read goes to disk.
    this.tags.delete(`${name}:${tag}`);
    await writeFileAtomic(this.tagPath(name, tag), digest);
    remember(this.tags, `${name}:${tag}`, digest);
  }

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    const key = `${name}:${tag}`;
    const cached = this.tags.get(key);
    if (cached) return cached;
    const text = await readFile(this.tagPath(name, tag), 'utf8').catch(ignoreMissing);
    if (text === undefined) return undefined;
    const digest = text.trim() as Digest;
    remember(this.tags, key, digest);
    return digest;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    this.tags.delete(`${name}:${tag}`);
    return removeFile(this.tagPath(name, tag));
  }

  /** Tags in Go's sort.Strings order (byte order), which the spec asks for. */
  async listTags(name: string): Promise<string[]> {
    const entries = await readdir(join(this.dir(name), '_manifests', 'tags')).catch(ignoreMissing);
    return (entries ?? []).filter((t) => !t.startsWith('.')).sort(byteOrder);
  }

  // ---- referrers ---------------------------------------------------------

  async listReferrers(name: string, subject: Digest): Promise<Descriptor[]> {
    const dir = join(this.dir(name), '_referrers', hexOf(subject));
    const entries = (await readdir(dir).catch(ignoreMissing)) ?? [];
    const out: Descriptor[] = [];
    for (const entry of entries.filter((e) => e.endsWith('.json') && !e.startsWith('.')).sort(byteOrder)) {
      const text = await readFile(join(dir, entry), 'utf8').catch(ignoreMissing);
      if (text !== undefined) out.push(JSON.parse(text) as Descriptor);
    }
    return out;
  }

  // ---- catalog -----------------------------------------------------------

  /** Every repository name, sorted; a repository is a directory holding _layers or _manifests. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(join(this.root, rel), { withFileTypes: true }).catch(ignoreMissing);
      if (!entries) return;
      let isRepo = false;
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (e.name === '_layers' || e.name === '_manifests') isRepo = true;
        else if (!e.name.startsWith('_') && !e.name.startsWith('.')) await walk(rel === '' ? e.name : `${rel}/${e.name}`);
      }
      if (isRepo && rel !== '') out.push(rel);
    };
    await walk('');
    return out.sort(byteOrder);
  }

  // ---- upload sessions ---------------------------------------------------

  private uploadPath(name: string, uuid: string): string {
    return join(this.dir(name), '_uploads', `${uuid}.json`);
  }

  async createUpload(session: UploadSession): Promise<void> {
    await mkdir(join(this.dir(session.repository), '_uploads'), { recursive: true });
    await writeJsonAtomic(this.uploadPath(session.repository, session.uuid), session);
  }

  async getUpload(name: string, uuid: string): Promise<UploadSession | undefined> {
    const text = await readFile(this.uploadPath(name, uuid), 'utf8').catch(ignoreMissing);
    return text === undefined ? undefined : (JSON.parse(text) as UploadSession);
  }

  async listUploads(name: string): Promise<UploadSession[]> {
    const dir = join(this.dir(name), '_uploads');
    const out: UploadSession[] = [];
    for (const entry of (await readdir(dir).catch(ignoreMissing)) ?? []) {
      if (!entry.endsWith('.json') || entry.startsWith('.')) continue;
      const text = await readFile(join(dir, entry), 'utf8').catch(ignoreMissing);
      if (text === undefined) continue;
      try {
        out.push(JSON.parse(text) as UploadSession);
      } catch {
        // A torn session file cannot happen with atomic writes; skip anything foreign.
      }
    }
    return out;
  }

  /** Repositories with an _uploads directory (a session may exist before any blob). */
  async listRepositoriesWithUploads(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(join(this.root, rel), { withFileTypes: true }).catch(ignoreMissing);
      if (!entries) return;
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (e.name === '_uploads' && rel !== '') out.push(rel);
        else if (!e.name.startsWith('_') && !e.name.startsWith('.')) await walk(rel === '' ? e.name : `${rel}/${e.name}`);
      }
    };
    await walk('');
    return out.sort(byteOrder);
  }

  async deleteUpload(name: string, uuid: string): Promise<void> {
    await removeFile(this.uploadPath(name, uuid));
  }

  /** Remove a whole repository's metadata (tests and tooling). */
  async removeRepository(name: string): Promise<void> {
    for (const cache of [this.tags, this.records] as Map<string, unknown>[]) {
      for (const key of cache.keys()) if (key.startsWith(`${name}:`) || key.startsWith(`${name}@`)) cache.delete(key);
    }
    await rm(this.dir(name), { recursive: true, force: true });
  }
}

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, value);
}

/** Go's sort.Strings compares bytes; for our ASCII names that is code-unit order. */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(ignoreMissing)) !== undefined;
}

async function isDir(path: string): Promise<boolean> {
  const s = await stat(path).catch(ignoreMissing);
  return s !== undefined && s.isDirectory();
}

async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}
