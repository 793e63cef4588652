import { chmod, copyFile, constants as fsc, lchown, lutimes, readlink, symlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { isOpaqueDir, isWhiteoutStat, lstatOrNull, mknodBatch, readXattrs, writeXattrs } from './fs-util.ts';
import { badLayer, chownIfRoot, layerXattrs, restoreDirTimes, unsafe, type PendingLowerChecks } from './unpack-common.ts';

/*
 * Lower-layer checks for overlay-mode layers: a layer unpacked into its own
 * directory is checked against the layers below it once they are complete.
 */
type Lookup =
  | { kind: 'missing' }
  | { kind: 'entry'; path: string; stat: Stats }
  | { kind: 'symlink-parent'; at: string }
  | { kind: 'notdir-parent'; at: string };

/**
 * What overlayfs would show at `rel` for the stack `layers` (topmost first),
 * walking component by component without following symlinks. Dirs in the
 * top layer named in `transparent` (dirs a layer only implied) merge but do
 * not hide what is below them, so a symlink below one is found.
 */
export async function mergedLookup(layers: string[], rel: string, transparent: Set<string> = new Set()): Promise<Lookup> {
  const parts = rel.split('/').filter(Boolean);
  let candidates = layers.map((_, i) => i);
  let prefix = '';
  for (let c = 0; c < parts.length; c++) {
    prefix = prefix === '' ? parts[c]! : `${prefix}/${parts[c]}`;
    const next: number[] = [];
    let found: { idx: number; stat: Stats } | null = null;
    for (const idx of candidates) {
      const st = await lstatOrNull(join(layers[idx]!, prefix));
      if (st === null) continue;
      if (isWhiteoutStat(st)) break;
      if (st.isDirectory()) {
        if (idx === 0 && transparent.has(prefix)) {
          next.push(idx);
          // an implied dir that this layer made opaque hides the lowers' children (but not the lowers' dir itself)
          if (c < parts.length - 1 && (await isOpaqueDir(join(layers[idx]!, prefix)))) break;
          continue;
        }
        found ??= { idx, stat: st };
        next.push(idx);
        if (await isOpaqueDir(join(layers[idx]!, prefix))) break;
        continue;
      }
      if (found === null) found = { idx, stat: st };
      break;
    }
    const last = c === parts.length - 1;
    if (found && !found.stat.isDirectory()) {
      if (last) return { kind: 'entry', path: join(layers[found.idx]!, prefix), stat: found.stat };
      return found.stat.isSymbolicLink() ? { kind: 'symlink-parent', at: prefix } : { kind: 'notdir-parent', at: prefix };
    }
    if (next.length === 0) return { kind: 'missing' };
    if (last) {
      const top = found ?? { idx: next[0]!, stat: (await lstatOrNull(join(layers[next[0]!]!, prefix)))! };
      return { kind: 'entry', path: join(layers[top.idx]!, prefix), stat: top.stat };
    }
    candidates = next;
  }
  return { kind: 'missing' };
}

/**
 * The second half of an overlay-mode unpack, once the lower layers are
 * complete: refuse a layer that writes through a symlink of a lower layer,
 * give implied parent dirs the metadata of the dir they merge with (so the
 * merged view keeps the lower dir's mode and owner), and materialise
 * hardlinks to lower files as copies (layer dirs are independent).
 * `lowers` are the lower layer dirs, topmost first.
 */
export async function finishLayer(pending: PendingLowerChecks, lowers: string[]): Promise<void> {
  if (pending.impliedDirs.length === 0 && pending.lowerLinks.length === 0) return;
  const layers = [pending.target, ...lowers];
  const implied = new Set(pending.impliedDirs);
  for (const rel of pending.impliedDirs) {
    const r = await mergedLookup(layers, rel, implied);
    if (r.kind === 'symlink-parent' || (r.kind === 'entry' && r.stat.isSymbolicLink())) {
      const at = r.kind === 'symlink-parent' ? r.at : rel;
      throw unsafe(pending.layer, rel, `goes through "${at}", a symlink in a lower layer (a path through a symlink could write outside the snapshot)`);
    }
    if (r.kind === 'notdir-parent' || (r.kind === 'entry' && !r.stat.isDirectory())) {
      throw badLayer(pending.layer, rel, 'has a parent that is not a directory in the lower layers');
    }
    if (r.kind === 'entry' && r.path !== join(pending.target, rel)) {
      const dst = join(pending.target, rel);
      await chownIfRoot(() => lchown(dst, r.stat.uid, r.stat.gid));
      await chmod(dst, r.stat.mode & 0o7777);
      pending.dirTimes.set(rel, r.stat.mtimeMs / 1000);
    }
  }
  for (const { path, target } of pending.lowerLinks) {
    const r = await mergedLookup(layers, target, implied);
    if (r.kind === 'symlink-parent') throw unsafe(pending.layer, path, `is a hardlink through "${r.at}", a symlink in a lower layer`);
    if (r.kind !== 'entry') throw badLayer(pending.layer, path, `is a hardlink to "${target}", which exists in no layer`);
    if (r.stat.isDirectory()) throw badLayer(pending.layer, path, `is a hardlink to a directory "${target}"`);
    const dst = join(pending.target, path);
    if (await lstatOrNull(dst)) continue; // a later entry of the layer took the path: the last entry wins
    await copyEntry(r.path, r.stat, dst);
  }
  await restoreDirTimes(pending.target, pending.dirTimes);
}

/** Copy one non-directory with its metadata (for hardlinks into a lower layer). */
async function copyEntry(src: string, st: Stats, dst: string): Promise<void> {
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
  } else if (st.isFile()) {
    await copyFile(src, dst, fsc.COPYFILE_EXCL);
  } else {
    const kind = st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'fifo';
    await mknodBatch([{ path: dst, kind, major: Math.floor(st.rdev / 256) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) }]);
  }
  await chownIfRoot(() => lchown(dst, st.uid, st.gid));
  if (!st.isSymbolicLink()) await chmod(dst, st.mode & 0o7777);
  const xattrs = await readXattrs(src);
  if (xattrs.size > 0) await writeXattrs(dst, layerXattrs(xattrs), dst);
  await lutimes(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
}

