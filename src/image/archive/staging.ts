import { createHash } from 'node:crypto';
import { open, readFile, rm, mkdtemp, mkdir, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { readTar, type TarEntry } from '../../archive/tar.ts';
import { BerthError } from '../../common/errors.ts';
import { decompressStream } from '../../archive/compression.ts';
import type { Digest } from '../../content/types.ts';

/**
 * An image archive (docker save output or an OCI layout tarball) unpacked
 * into a scratch directory. Entries are never written under their archive
 * names: each file body goes to a numbered file and is hashed on the way, so
 * no entry can write outside the scratch dir whatever its name says, and every
 * blob's digest is known without reading it again. Names are still checked
 * and refused when they try to escape (`..`, absolute paths), because an
 * archive that carries them is not a faithful image archive.
 */
export interface StagedFile {
  name: string;
  path: string;
  size: number;
  digest: Digest;
}

export const DEFAULT_MAX_JSON_BYTES = 16 * 1024 * 1024;
/** More than any real image archive holds; stops a tar bomb of empty entries. */
const MAX_ENTRIES = 1_000_000;
const MAX_LINK_HOPS = 16;

export class StagedArchive {
  readonly dir: string;
  private readonly files = new Map<string, StagedFile>();
  /** Symlinks and hardlinks between archive entries (docker 25+ legacy layer.tar links). */
  private readonly links = new Map<string, string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  addFile(file: StagedFile): void {
    this.files.set(file.name, file);
    this.links.delete(file.name);
  }

  addLink(name: string, target: string): void {
    this.links.set(name, target);
    this.files.delete(name);
  }

  has(name: string): boolean {
    return this.lookup(cleanName(name)) !== undefined;
  }

  /** The file a name refers to, following links inside the archive. Throws BERTH_ARCHIVE_MISSING_FILE. */
  file(name: string, where: string): StagedFile {
    let clean: string;
    try {
      clean = cleanName(name);
    } catch (err) {
      throw new BerthError('BERTH_ARCHIVE_PATH_ESCAPE', `${where} refers to ${JSON.stringify(name)}, which is outside the archive`, { status: 400, cause: err });
    }
    const found = this.lookup(clean);
    if (!found) throw new BerthError('BERTH_ARCHIVE_MISSING_FILE', `${where} refers to "${clean}", which is not in the archive`, { status: 400 });
    return found;
  }

  private lookup(name: string): StagedFile | undefined {
    let current = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const file = this.files.get(current);
      if (file) return file;
      const target = this.links.get(current);
      if (target === undefined) return undefined;
      current = target;
    }
    throw new BerthError('BERTH_ARCHIVE_LINK_LOOP', `archive entry "${name}": too many levels of links`, { status: 400 });
  }

  /** Parse a JSON file of the archive, refusing documents over `maxBytes`. */
  async json<T>(name: string, where: string, maxBytes: number): Promise<T> {
    const file = this.file(name, where);
    if (file.size > maxBytes) {
      throw new BerthError('BERTH_ARCHIVE_JSON_TOO_LARGE', `${file.name} is ${file.size} bytes, more than the ${maxBytes} allowed for a JSON document in an image archive`, { status: 400 });
    }
    const text = await readFile(file.path, 'utf8');
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new BerthError('BERTH_ARCHIVE_MALFORMED_JSON', `${file.name} is not valid JSON: ${(err as Error).message}`, { status: 400 });
    }
  }

  async readBytes(file: StagedFile): Promise<Buffer> {
    return readFile(file.path);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Normalise an archive member name: strip "./" and trailing "/", collapse
 * "a//b", resolve "a/../b" when it stays inside; refuse absolute names, names
 * that climb out ("../x", "a/../../x") and NUL bytes.
 */
export function cleanName(name: string): string {
  if (name.includes('\0')) throw escapeError(name, 'contains a NUL byte');
  if (name.startsWith('/')) throw escapeError(name, 'is an absolute path');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw escapeError(name, 'climbs out of the archive with ".."');
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

function escapeError(name: string, why: string): BerthError {
  return new BerthError('BERTH_ARCHIVE_PATH_ESCAPE', `archive entry ${JSON.stringify(name)} ${why}; refusing the archive`, { status: 400 });
}

/** Remove scratch dirs of loads whose process died (a kill -9 mid-load). */
export async function removeDeadStagingDirs(parent: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^load-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await rm(join(parent, name), { recursive: true, force: true });
    }
  }
}

/**
 * Read a (possibly gzip/zstd compressed, as `docker load` accepts) tar
 * stream into a fresh scratch dir under `parent`. On any error the scratch
 * dir is removed and a BerthError says which entry was refused.
 */
export async function stageArchive(source: Readable, parent: string): Promise<StagedArchive> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `load-${process.pid}-`));
  const staged = new StagedArchive(dir);
  try {
    const { stream } = await decompressStream(source);
    let count = 0;
    for await (const entry of readTar(stream)) {
      if (++count > MAX_ENTRIES) {
        throw new BerthError('BERTH_ARCHIVE_TOO_MANY_ENTRIES', `image archive has more than ${MAX_ENTRIES} entries`, { status: 400 });
      }
      await stageEntry(staged, entry, count);
    }
    if (count === 0) {
      throw new BerthError('BERTH_ARCHIVE_EMPTY', 'the image archive is empty (no tar entries)', { status: 400 });
    }
    return staged;
  } catch (err) {
    source.destroy();
    await staged.remove();
    throw asArchiveError(err);
  }
}

async function stageEntry(staged: StagedArchive, entry: TarEntry, index: number): Promise<void> {
  const header = entry.header;
  const name = cleanName(header.name);
  switch (header.type) {
    case 'file': {
      if (name === '') throw escapeError(header.name, 'is a file with no name');
      const path = join(staged.dir, String(index));
      const hash = createHash('sha256');
      let size = 0;
      const fh = await open(path, 'wx', 0o600);
      try {
        for await (const chunk of entry.body) {
          hash.update(chunk);
          size += chunk.length;
          await fh.write(chunk);
        }
      } finally {
        await fh.close();
      }
      staged.addFile({ name, path, size, digest: `sha256:${hash.digest('hex')}` });
      return;
    }
    case 'dir':
      return;
    case 'symlink':
    case 'link': {
      const linkname = header.linkname;
      if (linkname.startsWith('/')) throw escapeError(`${header.name} -> ${linkname}`, 'is a link to an absolute path');
      // A symlink target is relative to the link's directory; a hardlink's is relative to the archive root.
      const raw = header.type === 'symlink' ? posix.join(posix.dirname(name), linkname) : linkname;
      let target: string;
      try {
        target = cleanName(raw.startsWith('../') || raw === '..' ? '/' : raw);
      } catch {
        throw escapeError(`${header.name} -> ${linkname}`, 'is a link that points outside the archive');
      }
      staged.addLink(name, target);
      return;
    }
    default:
      throw new BerthError('BERTH_ARCHIVE_UNSUPPORTED_ENTRY', `archive entry "${header.name}" is a ${header.type} device or fifo; an image archive holds only files, directories and links`, { status: 400 });
  }
}

function asArchiveError(err: unknown): unknown {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('BERTH_ARCHIVE_MALFORMED_TAR', `the image archive is not a valid tar stream: ${message}`, { status: 400, cause: err });
}

/** Hash a staged file's content after decompression (the diff ID of a layer). */
export async function uncompressedDigest(path: string): Promise<{ digest: Digest; size: number; compression: 'none' | 'gzip' | 'zstd' }> {
  const fh = await open(path, 'r');
  try {
    const { compression, stream } = await decompressStream(fh.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size, compression };
  } finally {
    await fh.close();
  }
}
