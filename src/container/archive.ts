import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, read as fsRead, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rmdir, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '../common/errors.ts';
import { decompressStream } from '../archive/compression.ts';
import { readTar, writeTar, type TarEntryType, type TarHeader, type TarWriteEntry } from '../archive/tar.ts';
import { mknodBatch, writeXattrs } from '../snapshot/fs-util.ts';
import type { ContainerPathStat } from '../api/container-data-types.ts';
import { resolveUser } from './user.ts';

/**
 * What `docker cp` runs on (Engine API HEAD/GET/PUT /containers/{id}/archive):
 * the stat of a container path, a tar of it, and extraction of a tar into a
 * container directory — with Docker's path semantics and errors.
 *
 * Safety. `rootfs` is a host directory where the container's filesystem is
 * visible (its mounted overlay, or /proc/<pid>/root of a running container).
 * A process in the container can change that tree while we work, so no host
 * path string below the rootfs is ever trusted: every lookup walks the path
 * one component at a time from an open directory handle, using
 * /proc/<our pid>/fd/<dirfd>/<name> as an openat(2) (the magic link pins the
 * directory, the final name is looked up in it). Directories are opened with
 * O_NOFOLLOW|O_DIRECTORY, files with O_NOFOLLOW (and O_EXCL when created),
 * symlinks are read with readlink and re-resolved *inside* the rootfs (an
 * absolute target restarts at the rootfs, `..` stops at it), and metadata is
 * set through the open handle or with calls that never follow the final
 * component (lchown, lutimes, lsetxattr). A `..` is applied to the stack of
 * open handles, never given to the kernel. Whatever the container does to its
 * tree, a read or write lands on an inode that was reachable inside it.
 */

// ---------------------------------------------------------------------------
// Walking inside the rootfs
// ---------------------------------------------------------------------------

/** /proc/<pid>/fd rather than /proc/self/fd: mknod(1) runs in a child process and must see our descriptors. */
const FD_DIR = `/proc/${process.pid}/fd/`;
const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
/** O_PATH: a handle on the inode itself (for chmod of device nodes and fifos without opening them). */
const O_PATH = 0o10000000;
const MAX_SYMLINKS = 40;
/* Loaded at run time as fs-util.ts does (esbuild bundles cannot hold a .node file). */
const loadNative = createRequire(import.meta.url);

/** Path of `name` inside the directory open as `dir` (or of the directory itself). */
export function fdPath(dir: FileHandle | number, name?: string): string {
  const fd = typeof dir === 'number' ? dir : dir.fd;
  return name ? `${FD_DIR}${fd}/${name}` : `${FD_DIR}${fd}`;
}

type WalkErrorCode = 'ENOENT' | 'ENOTDIR' | 'ELOOP';

class WalkError extends Error {
  readonly code: WalkErrorCode;
  readonly containerPath: string;
  constructor(code: WalkErrorCode, containerPath: string, message: string) {
    super(message);
    this.code = code;
    this.containerPath = containerPath;
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/** A directory handle that the caller releases; the rootfs handle itself is shared and not closed. */
export interface DirRef {
  dir: FileHandle;
  /** Its container path ("/" for the root). */
  containerPath: string;
  release(): Promise<void>;
}

/** Result of a walk: the final component `name` inside directory `parent` ('' = `parent` itself). */
interface Located {
  parent: DirRef;
  name: string;
  /** lstat of the final component (after following, when asked), null if it does not exist. */
  stat: Stats | null;
  containerPath: string;
}

interface WalkOptions {
  /** Follow a symlink at the final component (within the rootfs). */
  followLast: boolean;
  /** Make missing intermediate directories (mode 0755, owned by `owner` or root). */
  create?: { owner?: { uid: number; gid: number } };
  /** A missing intermediate directory ends the walk instead of failing: the rest of the path is applied lexically (Docker's FollowSymlinkInScope, for a link target). */
  allowMissing?: boolean;
}

/** An open rootfs: every lookup below goes through it. */
export class RootFs {
  readonly rootfs: string;
  readonly root: FileHandle;
  readonly rootStat: Stats;

  private constructor(rootfs: string, root: FileHandle, rootStat: Stats) {
    this.rootfs = rootfs;
    this.root = root;
    this.rootStat = rootStat;
  }

  static async open(rootfs: string): Promise<RootFs> {
    let root: FileHandle;
    try {
      // Not O_NOFOLLOW: the rootfs may legitimately be /proc/<pid>/root, a magic link. It is the caller's trusted path.
      root = await open(rootfs, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (err) {
      throw new BerthError('BERTH_CONTAINER_ROOTFS', `container root filesystem ${rootfs} cannot be opened: ${(err as Error).message}`, { cause: err });
    }
    return new RootFs(rootfs, root, await root.stat());
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  private rootRef(): DirRef {
    return { dir: this.root, containerPath: '/', release: async () => {} };
  }

  /**
   * Resolve a container path the way the kernel would inside the container:
   * symlinks are followed within the rootfs (all but the last unless
   * followLast), `..` never climbs above it. Throws WalkError for a missing
   * or non-directory intermediate component and for symlink loops.
   */
  async walk(path: string | string[], options: WalkOptions): Promise<Located> {
    let pending = typeof path === 'string' ? path.split('/') : [...path];
    const stack: FileHandle[] = [];
    const done: string[] = [];
    const top = () => stack[stack.length - 1] ?? this.root;
    const where = (name?: string) => '/' + (name === undefined ? done : [...done, name]).join('/');
    let links = 0;
    const closeStack = async () => {
      while (stack.length > 0) await stack.pop()!.close();
      done.length = 0;
    };
    try {
      while (pending.length > 0) {
        const comp = pending.shift()!;
        if (comp === '' || comp === '.') continue;
        if (comp === '..') {
          if (stack.length > 0) {
            await stack.pop()!.close();
            done.pop();
          }
          continue;
        }
        if (comp.includes('\0')) throw new WalkError('ENOENT', where(comp), `path component ${JSON.stringify(comp)} contains a NUL byte`);
        const last = pending.every((p) => p === '');
        // "a/." and "a/.." need a to be a directory: only a plain last name may be a non-directory.
        const here = fdPath(top(), comp);
        if (last && !options.followLast) return await this.located(stack, done, comp, await lstatOrNull(here));
        const st = await lstatOrNull(here);
        if (st?.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) throw new WalkError('ELOOP', where(comp), `too many levels of symbolic links at ${where(comp)}`);
          const target = await readlink(here);
          if (target.startsWith('/')) await closeStack();
          pending = [...target.split('/'), ...pending];
          continue;
        }
        if (last) return await this.located(stack, done, comp, st);
        if (st === null && options.allowMissing && !options.create) {
          const rest = [...done, comp];
          for (const p of pending) {
            if (p === '..') rest.pop();
            else if (p !== '' && p !== '.') rest.push(p);
          }
          const loc = await this.located(stack, done, comp, null);
          return { ...loc, containerPath: '/' + rest.join('/') };
        }
        if (st === null) {
          if (!options.create) throw new WalkError('ENOENT', where(comp), `${where(comp)} does not exist`);
          await mkdir(here, { mode: 0o755 }).catch((err: unknown) => {
            if (errnoCode(err) !== 'EEXIST') throw err;
          });
        } else if (!st.isDirectory()) {
          throw new WalkError('ENOTDIR', where(comp), `${where(comp)} is not a directory`);
        }
        let fh: FileHandle;
        try {
          fh = await open(here, DIR_FLAGS);
        } catch (err) {
          const code = errnoCode(err);
          // Swapped for a symlink or a file since the lstat: look again (bounded like a symlink).
          if ((code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') && ++links <= MAX_SYMLINKS) {
            pending.unshift(comp);
            continue;
          }
          throw err;
        }
        if (st === null && options.create) {
          const owner = options.create.owner ?? { uid: 0, gid: 0 };
          await fh.chown(owner.uid, owner.gid).catch(() => {});
          await fh.chmod(0o755);
        }
        stack.push(fh);
        done.push(comp);
      }
      // The path ends at a directory on the stack (or the root): it is its own result.
      const dir = stack.pop();
      if (dir === undefined) return { parent: this.rootRef(), name: '', stat: this.rootStat, containerPath: '/' };
      const containerPath = '/' + done.join('/');
      await closeStack();
      return { parent: { dir, containerPath, release: () => dir.close() }, name: '', stat: await dir.stat(), containerPath };
    } catch (err) {
      await closeStack();
      throw err;
    }
  }

  /** Hand the top of the stack to the caller as `parent`; close everything below it. */
  private async located(stack: FileHandle[], done: string[], name: string, stat: Stats | null): Promise<Located> {
    const parentPath = '/' + done.join('/');
    const dir = stack.pop();
    const below = [...stack];
    stack.length = 0;
    for (const fh of below) await fh.close();
    const parent: DirRef = dir
      ? { dir, containerPath: parentPath, release: () => dir.close() }
      : this.rootRef();
    return { parent, name, stat, containerPath: name === '' ? parentPath : posix.join(parentPath, name) };
  }

  /** Open the directory a Located names (or take its parent when name is ''). */
  async openDir(loc: Located): Promise<DirRef> {
    if (loc.name === '') return loc.parent;
    try {
      const dir = await open(fdPath(loc.parent.dir, loc.name), DIR_FLAGS);
      return { dir, containerPath: loc.containerPath, release: () => dir.close() };
    } finally {
      await loc.parent.release();
    }
  }
}

// ---------------------------------------------------------------------------
// Docker's path conventions
// ---------------------------------------------------------------------------

/**
 * The container path as Docker reads it: absolute, cleaned, but keeping a
 * trailing "/" or "/." (archive.PreserveTrailingDotOrSeparator), which change
 * the meaning of `docker cp`.
 */
export function dockerAbsPath(path: string): string {
  let abs = posix.join('/', path);
  const specifiesCurrentDir = (p: string) => posix.basename(p) === '.' || p === '.' || p.endsWith('/.');
  if (!specifiesCurrentDir(abs) && specifiesCurrentDir(path)) {
    if (!abs.endsWith('/')) abs += '/';
    abs += '.';
  }
  if (!abs.endsWith('/') && path.endsWith('/')) abs += '/';
  return abs;
}

/** Go's filepath.Split: dir keeps its trailing slash, base is what follows the last one. */
function splitDir(abs: string): { dir: string; base: string } {
  const i = abs.lastIndexOf('/');
  return { dir: abs.slice(0, i + 1), base: abs.slice(i + 1) };
}

/** Go's filepath.Base: trailing slashes dropped, "/" for the root. */
function goBase(abs: string): string {
  const trimmed = abs.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

// Go os.FileMode type bits, as Docker puts them in the path stat.
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;
const GO_MODE_DEVICE = 2 ** 26;
const GO_MODE_NAMED_PIPE = 2 ** 25;
const GO_MODE_SOCKET = 2 ** 24;
const GO_MODE_SETUID = 2 ** 23;
const GO_MODE_SETGID = 2 ** 22;
const GO_MODE_CHAR_DEVICE = 2 ** 21;
const GO_MODE_STICKY = 2 ** 20;

/** A stat's st_mode as a Go os.FileMode (what os.Lstat().Mode() returns). */
export function goFileMode(stMode: number): number {
  let mode = stMode & 0o777;
  switch (stMode & fsc.S_IFMT) {
    case fsc.S_IFDIR: mode += GO_MODE_DIR; break;
    case fsc.S_IFLNK: mode += GO_MODE_SYMLINK; break;
    case fsc.S_IFBLK: mode += GO_MODE_DEVICE; break;
    case fsc.S_IFCHR: mode += GO_MODE_DEVICE + GO_MODE_CHAR_DEVICE; break;
    case fsc.S_IFIFO: mode += GO_MODE_NAMED_PIPE; break;
    case fsc.S_IFSOCK: mode += GO_MODE_SOCKET; break;
  }
  if (stMode & 0o4000) mode += GO_MODE_SETUID;
  if (stMode & 0o2000) mode += GO_MODE_SETGID;
  if (stMode & 0o1000) mode += GO_MODE_STICKY;
  return mode;
}

/** Go's time.Time JSON (RFC 3339, nanoseconds without trailing zeros), in UTC. */
export function goTime(seconds: bigint, nanos: bigint): string {
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const frac = nanos === 0n ? '' : '.' + nanos.toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac}Z`;
}

async function mtimeOf(path: string | FileHandle): Promise<string> {
  const st = typeof path === 'string' ? await lstat(path, { bigint: true }) : await path.stat({ bigint: true });
  return goTime(st.mtimeNs / 1_000_000_000n, st.mtimeNs % 1_000_000_000n);
}

/** The X-Docker-Container-Path-Stat header value: base64 of the JSON, fields in Docker's order. */
export function encodePathStatHeader(stat: ContainerPathStat): string {
  const json = JSON.stringify({ name: stat.name, size: stat.size, mode: stat.mode, mtime: stat.mtime, linkTarget: stat.linkTarget });
  return Buffer.from(json).toString('base64');
}

export interface ArchiveOptions {
  /** The container's name or ID, for Docker's "Could not find the file … in container …". */
  container?: string;
}

function fileNotFound(path: string, options: ArchiveOptions): BerthError {
  const where = options.container ? ` in container ${options.container}` : ' in the container';
  return new BerthError('BERTH_CONTAINER_PATH_NOT_FOUND', `Could not find the file ${path}${where}`, { status: 404, detail: { path } });
}

/** WalkError → the API error Docker gives for it. */
function walkFailure(err: unknown, path: string, options: ArchiveOptions): unknown {
  if (!(err instanceof WalkError)) return err;
  if (err.code === 'ENOENT') return fileNotFound(path, options);
  if (err.code === 'ENOTDIR') {
    return new BerthError('BERTH_CONTAINER_PATH_NOT_DIRECTORY', `${path}: ${err.containerPath} is not a directory`, { status: 400, detail: { path } });
  }
  return new BerthError('BERTH_CONTAINER_PATH_LOOP', `${path}: ${err.message}`, { status: 400, detail: { path } });
}

/** The node `docker cp` means by `path` (Docker's ResolvePath + StatPath). */
interface ResolvedNode {
  absPath: string;
  /** The directory holding the node (fully resolved, symlinks followed). */
  dir: DirRef;
  /** Base name in `dir`; '' when the node is `dir` itself (path "/", "x/" or "x/."). */
  base: string;
  stat: Stats;
}

async function resolveNode(fs: RootFs, path: string, options: ArchiveOptions): Promise<ResolvedNode> {
  const absPath = dockerAbsPath(path);
  const { dir: dirPart, base } = splitDir(absPath);
  let dir: DirRef;
  try {
    const loc = await fs.walk(dirPart, { followLast: true });
    if (loc.name !== '' && loc.stat === null) {
      await loc.parent.release();
      throw fileNotFound(path, options);
    }
    if (loc.name !== '' && !loc.stat!.isDirectory()) {
      await loc.parent.release();
      throw new WalkError('ENOTDIR', loc.containerPath, `${loc.containerPath} is not a directory`);
    }
    dir = await fs.openDir(loc);
  } catch (err) {
    throw walkFailure(err, path, options);
  }
  try {
    if (base === '' || base === '.') return { absPath, dir, base: '', stat: await dir.dir.stat() };
    const st = await lstatOrNull(fdPath(dir.dir, base));
    if (st === null) throw fileNotFound(path, options);
    return { absPath, dir, base, stat: st };
  } catch (err) {
    await dir.release();
    throw err;
  }
}

async function pathStat(fs: RootFs, node: ResolvedNode, path: string, options: ArchiveOptions): Promise<ContainerPathStat> {
  let linkTarget = '';
  if (node.stat.isSymbolicLink()) {
    // Docker shows where the link leads inside the container, fully evaluated.
    try {
      const loc = await fs.walk(node.absPath, { followLast: true, allowMissing: true });
      await loc.parent.release();
      linkTarget = loc.containerPath;
    } catch (err) {
      throw walkFailure(err, path, options);
    }
  }
  const target = node.base === '' ? node.dir.dir : fdPath(node.dir.dir, node.base);
  return {
    name: goBase(node.absPath),
    size: node.stat.size,
    mode: goFileMode(node.stat.mode),
    mtime: await mtimeOf(target),
    linkTarget,
  };
}

/** HEAD /containers/{id}/archive: Docker's stat of a container path (the last component is not followed unless the path ends in "/"). */
export async function statContainerPath(rootfs: string, path: string, options: ArchiveOptions = {}): Promise<ContainerPathStat> {
  const fs = await RootFs.open(rootfs);
  try {
    const node = await resolveNode(fs, path, options);
    try {
      return await pathStat(fs, node, path, options);
    } finally {
      await node.dir.release();
    }
  } finally {
    await fs.close();
  }
}

// ---------------------------------------------------------------------------
// Reading: tar entries of a tree (shared with export.ts)
// ---------------------------------------------------------------------------

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function devMajor(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

function entryType(st: Stats): TarEntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets: Go's archive/tar cannot hold them, Docker skips them
}

export interface TreeWalkOptions {
  /** Tar name of a path relative to the walk root ('' is the root itself). */
  nameOf: (rel: string) => string;
  /** Emit an entry for the walk root itself. */
  includeRoot: boolean;
  /** Do not descend into directories on another filesystem than the walk root (mount points): their entry is kept, their contents skipped. */
  skipOtherMounts?: boolean;
}

const CAPABILITY_XATTR = 'security.capability';

function header(name: string, type: TarEntryType, st: Stats, extra: Partial<TarWriteEntry['header']> = {}): TarWriteEntry['header'] {
  return {
    name: type === 'dir' && !name.endsWith('/') ? `${name}/` : name,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    // Docker truncates to seconds (canonical headers).
    mtime: Math.floor(st.mtimeMs / 1000),
    linkname: '',
    devmajor: type === 'char' || type === 'block' ? devMajor(st.rdev) : 0,
    devminor: type === 'char' || type === 'block' ? devMinor(st.rdev) : 0,
    ...extra,
  };
}

/**
 * Reading uses synchronous syscalls: a tree walk is tens of thousands of
 * lstat/open/getxattr calls, and a thread-pool hop per call made it ten
 * times slower than tar(1). Each call is microseconds; the walk gives the
 * event loop a turn every YIELD_EVERY entries, and large file bodies are read
 * asynchronously.
 */
const YIELD_EVERY = 128;
const SMALL_BODY = 1024 * 1024;
const BODY_CHUNK = 1024 * 1024;
/** O_NOFOLLOW: a symlink swapped in is not followed; O_NONBLOCK: a fifo swapped in does not hang the open. */
const FILE_READ_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
const { getAttributeSync } = loadNative('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
const readAsync = promisify(fsRead);

function lstatSyncOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

/** readlink, or null when the link was removed or replaced since it was listed (a live container changes its tree). */
function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EINVAL') return null;
    throw err;
  }
}

function capabilityOf(path: string): Buffer | null {
  try {
    return getAttributeSync(path, CAPABILITY_XATTR);
  } catch {
    return null; // no such attribute, or a filesystem without xattrs
  }
}

/** Exactly `size` bytes: a file that shrank is padded with zeros, growth is cut off (a live container may be writing it). */
function readSmall(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let pos = 0;
  while (pos < size) {
    const n = readSync(fd, buf, pos, size - pos, pos);
    if (n === 0) break;
    pos += n;
  }
  return buf;
}

async function* readLarge(fd: number, size: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const want = Math.min(BODY_CHUNK, size - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await readAsync(fd, buf, 0, want, pos);
    if (bytesRead === 0) {
      yield Buffer.alloc(size - pos);
      return;
    }
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/**
 * Tar entries for the tree under the open directory `dir` (names sorted by
 * bytes, a directory before its contents, hardlinks as link entries to the
 * first name seen, security.capability kept as Docker keeps it).
 */
export async function* treeEntries(dir: FileHandle, options: TreeWalkOptions): AsyncGenerator<TarWriteEntry> {
  const rootStat = await dir.stat();
  const walk: WalkState = { linked: new Map(), rootDev: rootStat.dev, options, sinceYield: 0 };
  if (options.includeRoot) yield { header: header(options.nameOf(''), 'dir', rootStat) };
  yield* walkDir(dir.fd, '', walk);
}

interface WalkState {
  linked: Map<string, string>;
  rootDev: number;
  options: TreeWalkOptions;
  sinceYield: number;
}

/** open(2) that answers null when the name is gone or is no longer of the kind expected (a live container changes its tree). */
function openOrNull(path: string, flags: number): number | null {
  try {
    return openSync(path, flags);
  } catch (err) {
    if (['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO'].includes(errnoCode(err) ?? '')) return null;
    throw err;
  }
}

async function* walkDir(dirFd: number, rel: string, walk: WalkState): AsyncGenerator<TarWriteEntry> {
  // d_type from readdir saves an lstat per entry: directories and files are opened (O_NOFOLLOW) and fstat'ed directly.
  const dirents = readdirSync(fdPath(dirFd), { withFileTypes: true }).sort((a, b) => byteOrder(a.name, b.name));
  for (const dirent of dirents) {
    if (++walk.sinceYield >= YIELD_EVERY) {
      walk.sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const name = dirent.name;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const p = fdPath(dirFd, name);
    const tarName = walk.options.nameOf(childRel);
    if (dirent.isDirectory()) {
      const sub = openOrNull(p, DIR_FLAGS);
      if (sub !== null) {
        try {
          const sst = fstatSync(sub);
          yield { header: header(tarName, 'dir', sst) };
          if (!(walk.options.skipOtherMounts && sst.dev !== walk.rootDev)) yield* walkDir(sub, childRel, walk);
        } finally {
          closeSync(sub);
        }
        continue;
      }
    } else if (dirent.isFile()) {
      const fd = openOrNull(p, FILE_READ_FLAGS);
      if (fd !== null) {
        try {
          const fst = fstatSync(fd);
          if (fst.isFile()) {
            const link = hardlinkEntry(walk, tarName, fst);
            if (link) yield link;
            else yield fileEntry(p, tarName, fd, fst);
            continue;
          }
        } finally {
          closeSync(fd);
        }
      }
    }
    // Symlinks, devices, fifos, sockets, unknown d_type, and anything that changed kind since readdir.
    const st = lstatSyncOrNull(p);
    if (st === null) continue; // removed meanwhile
    const type = entryType(st);
    if (type === null) continue;
    if (type === 'dir') {
      const sub = openOrNull(p, DIR_FLAGS);
      if (sub === null) continue;
      try {
        const sst = fstatSync(sub);
        yield { header: header(tarName, 'dir', sst) };
        if (!(walk.options.skipOtherMounts && sst.dev !== walk.rootDev)) yield* walkDir(sub, childRel, walk);
      } finally {
        closeSync(sub);
      }
      continue;
    }
    const link = hardlinkEntry(walk, tarName, st);
    if (link) {
      yield link;
      continue;
    }
    yield* nonDirEntry(p, tarName, st, type);
  }
}

/** A link entry when this inode was already archived under another name; else remembers this name. */
function hardlinkEntry(walk: WalkState, tarName: string, st: Stats): TarWriteEntry | null {
  if (st.nlink <= 1) return null;
  const key = `${st.dev}:${st.ino}`;
  const first = walk.linked.get(key);
  if (first !== undefined) return { header: header(tarName, 'link', st, { linkname: first, size: 0 }) };
  walk.linked.set(key, tarName);
  return null;
}

/** A regular file open as `fd` (fstat'ed as `st`) as a tar entry; the body is read before the fd is closed. */
function fileEntry(p: string, name: string, fd: number, st: Stats): TarWriteEntry {
  // security.capability only matters on executables; skipping the lookup elsewhere halves the syscalls per file.
  const cap = st.mode & 0o111 ? capabilityOf(p) : null;
  const h = header(name, 'file', st, cap ? { xattrs: new Map([[CAPABILITY_XATTR, cap]]) } : {});
  if (st.size === 0) return { header: h };
  if (st.size <= SMALL_BODY) return { header: h, body: [readSmall(fd, st.size)] };
  return { header: h, body: () => readLarge(fd, st.size) };
}

/** A non-directory at `p` (already lstat'ed) as a tar entry called `name`. */
async function* nonDirEntry(p: string, name: string, st: Stats, type: TarEntryType): AsyncGenerator<TarWriteEntry> {
  if (type === 'symlink') {
    const target = readlinkOrNull(p);
    if (target !== null) yield { header: header(name, 'symlink', st, { linkname: target }) };
    return;
  }
  if (type !== 'file') {
    yield { header: header(name, type, st) };
    return;
  }
  const fd = openOrNull(p, FILE_READ_FLAGS);
  if (fd === null) return;
  try {
    const fst = fstatSync(fd);
    if (fst.isFile()) yield fileEntry(p, name, fd, fst);
  } finally {
    closeSync(fd);
  }
}

/** Tar bytes of entries, as a Readable; `cleanup` runs however the stream ends. */
export function tarReadable(entries: AsyncGenerator<TarWriteEntry>, cleanup: () => Promise<void>): Readable {
  let cleaned: Promise<void> | undefined;
  const cleanupOnce = () => (cleaned ??= (async () => {
    await entries.return(undefined).catch(() => {});
    await cleanup();
  })());
  const bytes = (async function* () {
    try {
      yield* writeTar(entries);
    } finally {
      await cleanupOnce();
    }
  })();
  const out = Readable.from(bytes, { objectMode: false, highWaterMark: 256 * 1024 });
  // Destroyed before the first read: the generator never ran, so its finally will not either.
  out.once('close', () => void cleanupOnce().catch(() => {}));
  return out;
}

export interface ArchiveResult {
  stat: ContainerPathStat;
  /** The tar stream (uncompressed, as Docker sends it). */
  tar: Readable;
}

/**
 * GET /containers/{id}/archive: a tar of `path` with Docker's naming — a
 * directory is archived under its base name ("dir/", "dir/file"), "path/."
 * archives the contents ("./", "./file"), a symlink as the last component is
 * the link itself unless the path ends in "/".
 */
export async function getArchive(rootfs: string, path: string, options: ArchiveOptions = {}): Promise<ArchiveResult> {
  const fs = await RootFs.open(rootfs);
  // Whatever handle is held at a moment; released on failure, handed to the stream otherwise.
  let held: DirRef | undefined;
  try {
    const node = await resolveNode(fs, path, options);
    held = node.dir;
    const stat = await pathStat(fs, node, path, options);
    const rebase = goBase(node.absPath);
    // Go: the rebase of "." onto "/" becomes "" so names read "/bin/sh", not "//bin/sh".
    const prefix = rebase === '/' ? '' : rebase;
    let entries: AsyncGenerator<TarWriteEntry>;
    if (node.stat.isDirectory()) {
      if (node.base !== '') {
        held = undefined; // openDir releases the parent whatever happens
        held = await fs.openDir({ parent: node.dir, name: node.base, stat: node.stat, containerPath: node.absPath });
      }
      entries = treeEntries(held.dir, { includeRoot: true, nameOf: (rel) => (rel === '' ? `${prefix}/` : `${prefix}/${rel}`) });
    } else {
      entries = oneEntry(held.dir, node.base, rebase);
    }
    const ref = held;
    held = undefined;
    return { stat, tar: tarReadable(entries, async () => { await ref.release(); await fs.close(); }) };
  } catch (err) {
    await held?.release();
    await fs.close();
    throw err;
  }
}

/** One non-directory `base` in `parent` as a tar entry called `name`. */
async function* oneEntry(parent: FileHandle, base: string, name: string): AsyncGenerator<TarWriteEntry> {
  const p = fdPath(parent, base);
  const st = lstatSyncOrNull(p);
  if (st === null) return;
  const type = entryType(st);
  if (type === null || type === 'dir') return;
  yield* nonDirEntry(p, name, st, type);
}

// ---------------------------------------------------------------------------
// Writing: extract a tar into a container directory
// ---------------------------------------------------------------------------

export interface PutArchiveOptions extends ArchiveOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (Docker's noOverwriteDirNonDir). */
  noOverwriteDirNonDir?: boolean;
  /** `docker cp -a`: own everything by the container's user (Config.User, resolved in the container's /etc/passwd). */
  copyUIDGID?: boolean;
  /** The container's Config.User, for copyUIDGID. */
  user?: string;
}

function unsafeEntry(name: string, why: string): BerthError {
  return new BerthError('BERTH_CONTAINER_ARCHIVE_UNSAFE_PATH', `archive entry ${JSON.stringify(name)} ${why}; nothing more was extracted`, { status: 400, detail: { entry: name } });
}

/** Lexically clean an entry name relative to the destination; a `..` that leaves it is refused (Docker's breakout check). */
function cleanRelative(name: string, what: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw unsafeEntry(name, `${what} climbs out of the destination directory with ".."`);
      out.pop();
      continue;
    }
    if (part.includes('\0')) throw unsafeEntry(name, 'contains a NUL byte');
    out.push(part);
  }
  return out;
}

/** rm -rf of `name` in `parent`, never following a symlink: every level is opened with O_NOFOLLOW and unlinked by name. */
async function removeAt(parent: FileHandle, name: string): Promise<void> {
  const p = fdPath(parent, name);
  const st = await lstatOrNull(p);
  if (st === null) return;
  if (!st.isDirectory()) {
    await unlink(p);
    return;
  }
  let dir: FileHandle;
  try {
    dir = await open(p, DIR_FLAGS);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP' || errnoCode(err) === 'ENOTDIR') {
      await unlink(p);
      return;
    }
    throw err;
  }
  try {
    for (const child of await readdir(fdPath(dir))) await removeAt(dir, child);
  } finally {
    await dir.close();
  }
  await rmdir(p);
}

class Extractor {
  private readonly fs: RootFs;
  /** Container path components of the destination directory (fully resolved). */
  private readonly destParts: string[];
  private readonly destPath: string;
  private readonly options: PutArchiveOptions;
  private readonly owner: { uid: number; gid: number } | undefined;
  /**
   * The last parent directory used, kept open: tars list siblings together.
   * It is never stale: an entry only removes a child of its own parent, and a
   * different parent replaces the cache first.
   */
  private cached: { key: string; ref: DirRef } | undefined;
  private readonly dirTimes: Array<{ parts: string[]; mtime: number }> = [];

  constructor(fs: RootFs, destPath: string, options: PutArchiveOptions, owner: { uid: number; gid: number } | undefined) {
    this.fs = fs;
    this.destPath = destPath;
    this.destParts = splitPath(destPath);
    this.options = options;
    this.owner = owner;
  }

  private async parentOf(parts: string[]): Promise<DirRef> {
    const key = parts.join('/');
    if (this.cached?.key === key) return this.cached.ref;
    await this.dropCache();
    const loc = await this.fs.walk([...this.destParts, ...parts, '.'], { followLast: true, create: this.owner ? { owner: this.owner } : {} });
    const ref = await this.fs.openDir(loc);
    this.cached = { key, ref };
    return ref;
  }

  private async dropCache(): Promise<void> {
    const c = this.cached;
    this.cached = undefined;
    if (c) await c.ref.release();
  }

  async close(): Promise<void> {
    await this.dropCache();
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parts = cleanRelative(h.name, 'the entry');
    if (parts.length === 0) {
      // "." / "./": the destination itself, which exists as a directory; Docker leaves it as it is.
      if (h.type === 'dir') return;
      throw new BerthError('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', `archive entry ${JSON.stringify(h.name)} names the destination ${this.destPath} but is not a directory`, { status: 400 });
    }
    const name = parts[parts.length - 1]!;
    const containerPath = posix.join(this.destPath, ...parts);
    let parent: DirRef;
    try {
      parent = await this.parentOf(parts.slice(0, -1));
    } catch (err) {
      if (err instanceof WalkError) {
        throw new BerthError('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', `archive entry ${JSON.stringify(h.name)}: ${err.message}`, { status: 400, cause: err });
      }
      throw err;
    }
    const p = fdPath(parent.dir, name);
    const existing = await lstatOrNull(p);
    if (existing) {
      if (this.options.noOverwriteDirNonDir && existing.isDirectory() && h.type !== 'dir') {
        throw new BerthError('BERTH_CONTAINER_ARCHIVE_OVERWRITE', `cannot overwrite directory "${containerPath}" with non-directory "${h.name}"`, { status: 400 });
      }
      if (this.options.noOverwriteDirNonDir && !existing.isDirectory() && h.type === 'dir') {
        throw new BerthError('BERTH_CONTAINER_ARCHIVE_OVERWRITE', `cannot overwrite non-directory "${containerPath}" with directory "${h.name}"`, { status: 400 });
      }
      if (!(existing.isDirectory() && h.type === 'dir')) await removeAt(parent.dir, name);
    }
    const uid = this.owner?.uid ?? h.uid;
    const gid = this.owner?.gid ?? h.gid;
    switch (h.type) {
      case 'dir': {
        if (!existing?.isDirectory()) await mkdir(p, { mode: 0o700 });
        const dir = await open(p, DIR_FLAGS);
        try {
          await dir.chown(uid, gid);
          await dir.chmod(h.mode);
        } finally {
          await dir.close();
        }
        await this.setXattrs(p, h);
        this.dirTimes.push({ parts, mtime: h.mtime });
        return;
      }
      case 'file': {
        // O_EXCL|O_NOFOLLOW: never opens anything that was planted at the name.
        const fh = await open(p, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          let pos = 0;
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.length) {
              const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, pos);
              off += bytesWritten;
              pos += bytesWritten;
            }
          }
          await fh.chown(uid, gid);
          await fh.chmod(h.mode);
          await this.setXattrs(p, h);
          await fh.utimes(h.mtime, h.mtime);
        } finally {
          await fh.close();
        }
        return;
      }
      case 'symlink':
        // The target is stored, never followed by us; inside the container it resolves within the container.
        await symlink(h.linkname, p);
        await lchown(p, uid, gid);
        await this.setXattrs(p, h);
        await lutimes(p, h.mtime, h.mtime);
        return;
      case 'link': {
        const targetParts = cleanRelative(h.linkname, 'the hardlink target');
        if (targetParts.length === 0) throw unsafeEntry(h.name, `is a hardlink to the destination directory itself`);
        const tparent = await this.fs.walk([...this.destParts, ...targetParts.slice(0, -1), '.'], { followLast: true })
          .then((loc) => this.fs.openDir(loc))
          .catch((err: unknown) => {
            if (err instanceof WalkError) throw new BerthError('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', `archive entry ${JSON.stringify(h.name)} is a hardlink to "${h.linkname}", which does not exist`, { status: 400 });
            throw err;
          });
        try {
          const tname = targetParts[targetParts.length - 1]!;
          const tst = await lstatOrNull(fdPath(tparent.dir, tname));
          if (tst === null) throw new BerthError('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', `archive entry ${JSON.stringify(h.name)} is a hardlink to "${h.linkname}", which does not exist`, { status: 400 });
          if (tst.isDirectory()) throw new BerthError('BERTH_CONTAINER_ARCHIVE_BAD_ENTRY', `archive entry ${JSON.stringify(h.name)} is a hardlink to a directory "${h.linkname}"`, { status: 400 });
          // link(2) does not follow a symlink at the old name: the link is to that very inode.
          await link(fdPath(tparent.dir, tname), p);
        } finally {
          await tparent.release();
        }
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await mknodBatch([{ path: p, kind: h.type, major: h.devmajor, minor: h.devminor }]);
        const node = await open(p, O_PATH | fsc.O_NOFOLLOW);
        try {
          const st = await node.stat();
          const ok = h.type === 'fifo' ? st.isFIFO() : h.type === 'char' ? st.isCharacterDevice() : st.isBlockDevice();
          if (!ok) throw new BerthError('BERTH_CONTAINER_ARCHIVE_RACE', `${containerPath} changed while it was being created`, { status: 409 });
          // chmod through the O_PATH handle: acts on this inode, whatever is at the name now.
          await chmod(fdPath(node), h.mode);
        } finally {
          await node.close();
        }
        await lchown(p, uid, gid);
        await this.setXattrs(p, h);
        await lutimes(p, h.mtime, h.mtime);
        return;
      }
    }
  }

  private async setXattrs(path: string, h: TarHeader): Promise<void> {
    if (h.xattrs.size === 0) return;
    const wanted = new Map([...h.xattrs].filter(([k]) => !k.startsWith('trusted.overlay.')));
    if (wanted.size > 0) await writeXattrs(path, wanted, `archive entry ${JSON.stringify(h.name)}`);
  }

  /** Directory mtimes last, deepest first (writing into a directory changes its mtime). */
  async finish(): Promise<void> {
    await this.dropCache();
    const dirs = [...this.dirTimes].sort((a, b) => b.parts.length - a.parts.length);
    for (const d of dirs) {
      try {
        const loc = await this.fs.walk([...this.destParts, ...d.parts], { followLast: false });
        try {
          if (loc.stat?.isDirectory()) await lutimes(fdPath(loc.parent.dir, loc.name), d.mtime, d.mtime);
        } finally {
          await loc.parent.release();
        }
      } catch (err) {
        if (!(err instanceof WalkError)) throw err;
      }
    }
  }
}

/**
 * PUT /containers/{id}/archive: extract a tar (plain, gzip or zstd) INTO the
 * existing directory `path`. The destination is resolved with symlinks
 * followed inside the rootfs (the last one too: a symlink to a directory is a
 * valid destination). Docker's errors: 404 when it does not exist, 400 when
 * it is not a directory, "cannot overwrite directory … with non-directory …"
 * with noOverwriteDirNonDir. Entries are refused when they climb out of the
 * destination with "..", or are hardlinks to outside it; parent symlinks in
 * the container are followed inside the rootfs only.
 */
export async function putArchive(rootfs: string, path: string, source: Readable, options: PutArchiveOptions = {}): Promise<void> {
  const fs = await RootFs.open(rootfs);
  let extractor: Extractor | undefined;
  try {
    const absPath = dockerAbsPath(path);
    let dest: DirRef;
    try {
      const loc = await fs.walk(absPath, { followLast: true });
      if (loc.name !== '' && loc.stat === null) {
        await loc.parent.release();
        throw fileNotFound(path, options);
      }
      if (loc.name !== '' && !loc.stat!.isDirectory()) {
        await loc.parent.release();
        throw new BerthError('BERTH_CONTAINER_NOT_A_DIRECTORY', 'extraction point is not a directory', { status: 400, detail: { path } });
      }
      dest = await fs.openDir(loc);
    } catch (err) {
      throw walkFailure(err, path, options);
    }
    const destPath = dest.containerPath;
    await dest.release();
    let owner: { uid: number; gid: number } | undefined;
    if (options.copyUIDGID && options.user) {
      const u = resolveUser(rootfs, options.user);
      owner = { uid: u.uid, gid: u.gid };
    }
    extractor = new Extractor(fs, destPath, options, owner);
    const { stream } = await decompressStream(source);
    try {
      for await (const entry of readTar(stream as AsyncIterable<Uint8Array>)) await extractor.entry(entry.header, entry.body);
      await extractor.finish();
    } catch (err) {
      // Stop extracting but leave the source usable: for an HTTP request, destroying it would kill the
      // connection before the error answer is sent; the rest of the upload is read and dropped instead.
      source.unpipe();
      stream.destroy();
      source.resume();
      throw err;
    }
  } finally {
    await extractor?.close();
    await fs.close();
  }
}
