import { lutimes } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';

/** What the two halves of a layer unpack (apply.ts, lower-layers.ts) share. */

/** Work of an overlay-mode unpack that needs the lower layers (see finishLayer). */
export interface PendingLowerChecks {
  target: string;
  layer: string;
  /** Parent dirs this layer implies without an entry, parents first (relative paths). */
  impliedDirs: string[];
  /** Hardlinks whose target is not in this layer (relative paths). */
  lowerLinks: Array<{ path: string; target: string }>;
  /** mtimes of dirs, to restore after finishLayer touched their contents. */
  dirTimes: Map<string, number>;
}

export function unsafe(layer: string, entry: string, why: string): BerthError {
  return new BerthError('BERTH_SNAPSHOT_UNSAFE_PATH', `layer ${layer}: entry "${entry}" ${why}; the layer is refused`, { status: 400, detail: { layer, entry } });
}

export function badLayer(layer: string, entry: string, why: string): BerthError {
  return new BerthError('BERTH_SNAPSHOT_BAD_LAYER', `layer ${layer}: entry "${entry}" ${why}`, { status: 400, detail: { layer, entry } });
}

export async function restoreDirTimes(target: string, dirTimes: Map<string, number>): Promise<void> {
  const dirs = [...dirTimes.keys()].sort((a, b) => depth(b) - depth(a));
  for (const rel of dirs) {
    const t = dirTimes.get(rel)!;
    await lutimes(rel === '' ? target : join(target, rel), t, t);
  }
}

function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}

/** overlayfs's own xattrs from a layer would steer the kernel (redirects, metacopy): only berth sets those. */
export function layerXattrs(xattrs: Map<string, Buffer>): Map<string, Buffer> {
  let filtered: Map<string, Buffer> | undefined;
  for (const name of xattrs.keys()) {
    if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
      filtered ??= new Map(xattrs);
      filtered.delete(name);
    }
  }
  return filtered ?? xattrs;
}

export const IS_ROOT = process.getuid?.() === 0;
export async function chownIfRoot(fn: () => Promise<void>): Promise<void> {
  if (IS_ROOT) {
    await fn();
    return;
  }
  // Unprivileged unpack (tests, rootless): ownership cannot be given away; keep ours.
  await fn().catch(() => {});
}

