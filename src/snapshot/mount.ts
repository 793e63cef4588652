import { execFile } from 'node:child_process';
import { dirname, relative } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { MS, parseMountOptions } from '../runtime/mount-options.ts';
import type { Mount } from './types.ts';

/**
 * Mount what a snapshotter returns onto a target directory (mount(8): it
 * knows the kernel's option syntax, and this is not a hot path). The kernel
 * takes at most one page of overlay options; for long layer chains the
 * lowerdirs are given relative to a common parent, with mount run there, as
 * containerd does.
 */
const PAGE = 4096;

function run(args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('mount', args, cwd ? { cwd } : {}, (err, _out, stderr) => {
      if (err) reject(new BerthError('BERTH_SNAPSHOT_MOUNT', `mount ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    if (m.type === 'bind') {
      const recursive = m.options.includes('rbind');
      await run([recursive ? '--rbind' : '--bind', m.source, target]);
      if (m.options.includes('ro')) await run(['-o', 'remount,bind,ro', target]);
      continue;
    }
    let options = m.options.join(',');
    let cwd: string | undefined;
    if (options.length >= PAGE) ({ options, cwd } = relativeOverlayOptions(m.options));
    await run(['-t', m.type, m.source, '-o', options, target], cwd);
  }
}

/**
 * One mount(2) call: what berth-monitor executes (its --mount) to assemble a
 * container's root filesystem without mount(8). `cwd` is where to make the
 * call from ('' for anywhere): overlay options too long for the kernel's one
 * page are given relative to it.
 */
export interface MountRequest {
  target: string;
  fstype: string;
  source: string;
  flags: number;
  data: string;
  cwd: string;
}

/** The mount(2) calls that put `mounts` on `target`, in order (what mountAll does through mount(8)). */
export function mountRequests(mounts: Mount[], target: string): MountRequest[] {
  const out: MountRequest[] = [];
  for (const m of mounts) {
    if (m.type === 'bind') {
      const recursive = m.options.includes('rbind');
      out.push({ target, fstype: '', source: m.source, flags: MS.BIND | (recursive ? MS.REC : 0), data: '', cwd: '' });
      // A bind mount ignores MS_RDONLY on creation: read-only takes a remount.
      if (m.options.includes('ro')) out.push({ target, fstype: '', source: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY, data: '', cwd: '' });
      continue;
    }
    const parsed = parseMountOptions(m.options);
    let data = parsed.data.join(',');
    let cwd = '';
    if (data.length >= PAGE) ({ options: data, cwd } = relativeOverlayOptions(parsed.data));
    out.push({ target, fstype: m.type, source: m.source, flags: parsed.flags, data, cwd });
  }
  return out;
}

/** Rewrite lowerdir/upperdir/workdir paths relative to their common parent. */
function relativeOverlayOptions(options: string[]): { options: string; cwd: string } {
  const paths: string[] = [];
  for (const o of options) {
    const [k, v] = o.split('=', 2);
    if (v && (k === 'lowerdir' || k === 'upperdir' || k === 'workdir')) paths.push(...v.split(':'));
  }
  let base = dirname(paths[0] ?? '/');
  while (!paths.every((p) => p.startsWith(base + '/'))) base = dirname(base);
  const rewritten = options.map((o) => {
    const [k, v] = o.split('=', 2);
    if (!v || !(k === 'lowerdir' || k === 'upperdir' || k === 'workdir')) return o;
    return `${k}=${v.split(':').map((p) => relative(base, p)).join(':')}`;
  });
  const joined = rewritten.join(',');
  if (joined.length >= PAGE) {
    throw new BerthError('BERTH_SNAPSHOT_MOUNT', `overlay mount options are ${joined.length} bytes even with relative paths; the kernel takes at most ${PAGE - 1} (too many layers)`);
  }
  return { options: joined, cwd: base };
}

export function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('umount', options.lazy ? ['-l', target] : [target], (err, _out, stderr) => {
      if (err) reject(new BerthError('BERTH_SNAPSHOT_MOUNT', `umount ${target} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}
