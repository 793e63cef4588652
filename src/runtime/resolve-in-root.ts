import { lstatSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';

/**
 * Resolves a container path inside a rootfs on the host, following symlinks
 * the way the kernel would inside the container: absolute targets restart at
 * the rootfs, `..` never climbs above it. Used to validate args[0] and mount
 * destinations before anything is launched; the launcher re-resolves with
 * openat2(RESOLVE_IN_ROOT) at mount time, so this is not the security boundary.
 */
export interface InRootResult {
  /** Host path of the resolved object (may not exist). */
  hostPath: string;
  /** Container path after symlinks. */
  containerPath: string;
  stat: Stats | undefined;
  /** A relative symlink whose `..` would have left the rootfs, if any. */
  escape?: { link: string; target: string };
}

const MAX_SYMLINKS = 40;

export function resolveInRoot(rootfs: string, path: string): InRootResult {
  let pending = splitPath(path);
  const done: string[] = [];
  let links = 0;
  let escape: InRootResult['escape'];
  let stat: Stats | undefined;
  while (pending.length > 0) {
    const comp = pending.shift()!;
    if (comp === '.' || comp === '') continue;
    if (comp === '..') {
      done.pop();
      continue;
    }
    const containerPath = '/' + [...done, comp].join('/');
    let st: Stats | undefined;
    try {
      st = lstatSync(rootfs + containerPath);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        return { hostPath: rootfs + containerPath, containerPath, stat: undefined, escape };
      }
      const target = readlinkSync(rootfs + containerPath);
      if (!target.startsWith('/') && !escape) {
        // Lexically: does this relative target climb above the rootfs?
        let depth = done.length;
        for (const part of splitPath(target)) {
          if (part === '..') depth--;
          else if (part !== '.' && part !== '') depth++;
          if (depth < 0) {
            escape = { link: containerPath, target };
            break;
          }
        }
      }
      if (target.startsWith('/')) done.length = 0;
      pending = [...splitPath(target), ...pending];
      continue;
    }
    done.push(comp);
    stat = pending.length === 0 ? st : undefined;
    if (!st && pending.length > 0) {
      // Missing directory: the rest cannot be symlinks yet.
      for (const p of pending) {
        if (p === '..') done.pop();
        else if (p !== '' && p !== '.') done.push(p);
      }
      pending = [];
      stat = undefined;
    }
  }
  const containerPath = '/' + done.join('/');
  return { hostPath: posix.join(rootfs, containerPath), containerPath, stat, escape };
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}
