import { lstat, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { BerthError } from '../common/errors.ts';

/**
 * Small filesystem primitives the unpacker, the differ and the snapshotters
 * share. Node has no mknod(2) and no *xattr(2): xattrs come from
 * @napi-rs/xattr (l* calls, never following symlinks) and device nodes are
 * made by mknod(1), batched so a layer with many whiteouts costs one process.
 */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

/*
 * Loaded at run time rather than imported: the commands are bundled with
 * esbuild, which cannot bundle a native .node file; resolved from the
 * bundle's location, node_modules is found as usual.
 */
const loadNative = createRequire(import.meta.url);
const xattrModule = '@napi-rs/xattr';
const { getAttribute, listAttributes, setAttribute } = loadNative(xattrModule) as typeof import('@napi-rs/xattr');

export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** overlayfs whiteout: a character device 0/0. */
export function isWhiteoutStat(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export async function isOpaqueDir(path: string): Promise<boolean> {
  const v = await getXattr(path, OVERLAY_OPAQUE_XATTR);
  return v !== null && v.toString() === 'y';
}

function isUnsupported(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /not supported|ENOTSUP|EOPNOTSUPP|os error 95/i.test(msg);
}

export async function getXattr(path: string, name: string): Promise<Buffer | null> {
  try {
    return await getAttribute(path, name);
  } catch (err) {
    if (isUnsupported(err) || /No data available|ENODATA|os error 61/i.test(String((err as Error).message))) return null;
    throw err;
  }
}

/** All xattrs of a path (not following symlinks); empty where the filesystem has none. */
export async function readXattrs(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = await listAttributes(path);
  } catch (err) {
    if (isUnsupported(err)) return out;
    throw err;
  }
  for (const name of names.sort()) {
    const value = await getXattr(path, name);
    if (value !== null) out.set(name, value);
  }
  return out;
}

/**
 * Set xattrs on a path (not following symlinks). Attributes the filesystem
 * cannot hold are skipped, as containerd does; any other failure is an error
 * naming the path.
 */
export async function writeXattrs(path: string, xattrs: Map<string, Buffer>, where: string): Promise<void> {
  for (const [name, value] of xattrs) {
    try {
      await setAttribute(path, name, value);
    } catch (err) {
      if (isUnsupported(err)) continue;
      throw new BerthError('BERTH_SNAPSHOT_XATTR', `${where}: cannot set xattr ${name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

export interface NodeSpec {
  path: string;
  kind: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
}

/**
 * Make device nodes and fifos with mknod(1), many per process. Each path's
 * parent must already be checked by the caller; mknod never follows a
 * symlink at the final component (it fails with EEXIST).
 */
export async function mknodBatch(nodes: NodeSpec[]): Promise<void> {
  const script = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -m 600 -- "$1" p || exit 1; else mknod -m 600 -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';
  // Keep each command line well under ARG_MAX.
  let batch: string[] = [];
  let bytes = 0;
  const run = async () => {
    if (batch.length === 0) return;
    const args = batch;
    batch = [];
    bytes = 0;
    await new Promise<void>((resolve, reject) => {
      execFile('/bin/sh', ['-c', script, 'mknod-batch', ...args], (err, _stdout, stderr) => {
        if (err) reject(new BerthError('BERTH_SNAPSHOT_MKNOD', `mknod failed: ${String(stderr).trim() || err.message}`, { cause: err }));
        else resolve();
      });
    });
  };
  for (const n of nodes) {
    const t = n.kind === 'char' ? 'c' : n.kind === 'block' ? 'b' : 'p';
    batch.push(n.path, t, String(n.major), String(n.minor));
    bytes += n.path.length + 16;
    if (bytes > 512 * 1024) await run();
  }
  await run();
}

/** rm -rf of one path; never follows a symlink at `path` itself. */
export async function removePath(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
