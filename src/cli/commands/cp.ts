/**
 * `berth cp`: copy between a container and the host through the archive
 * endpoints (HEAD/GET/PUT /containers/{id}/archive), with docker's naming
 * rules: into an existing directory the source keeps its name, otherwise it
 * takes the destination's. Extraction on the host refuses entries that would
 * land outside the destination.
 */
import { spawn } from 'node:child_process';
import { mkdir, stat, symlink, writeFile, chmod, lstat, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { CommandDef } from '../command.ts';
import { bool } from '../command.ts';
import type { EngineClient } from '../../client/client.ts';

function splitContainerPath(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

async function pathStat(client: EngineClient, container: string, path: string): Promise<{ mode: number } | undefined> {
  const res = await client.raw('HEAD', `/containers/${encodeURIComponent(container)}/archive`, { query: { path } });
  res.resume();
  if (res.statusCode === 404) return undefined;
  if (res.statusCode >= 400) throw new Error(`Error response from daemon: could not stat ${path} in ${container} (status ${res.statusCode})`);
  const header = res.headers['x-docker-container-path-stat'];
  return header ? (JSON.parse(Buffer.from(header, 'base64').toString()) as { mode: number }) : { mode: 0 };
}

const GO_DIR = 2 ** 31;

async function extractTo(tar: Readable, dest: string, rename: string | undefined): Promise<void> {
  // .default: a bundled dynamic import of a CommonJS module only has its default export.
  const { extract } = (await import('tar-stream')).default;
  const ex = extract();
  const root = resolve(dest);
  const done = new Promise<void>((res, rej) => {
    ex.on('entry', (header, stream, next) => {
      void (async () => {
        let name = header.name.replace(/^\.\//, '').replace(/\/$/, '');
        if (rename !== undefined) {
          const parts = name.split('/');
          parts[0] = rename;
          name = parts.join('/');
        }
        const target = resolve(root, name);
        if (target !== root && !target.startsWith(root + sep)) throw new Error(`refusing to extract ${header.name}: it would land outside ${dest}`);
        if (header.type === 'directory') {
          await mkdir(target, { recursive: true });
          await chmod(target, header.mode ?? 0o755);
          stream.resume();
        } else if (header.type === 'symlink') {
          await mkdir(dirname(target), { recursive: true });
          await rm(target, { force: true });
          await symlink(header.linkname!, target);
          stream.resume();
        } else if (header.type === 'file') {
          await mkdir(dirname(target), { recursive: true });
          // Never write through a symlink already at the target.
          const existing = await lstat(target).catch(() => undefined);
          if (existing?.isSymbolicLink()) await rm(target);
          await pipeline(stream, createWriteStream(target, { mode: header.mode ?? 0o644 }));
          await chmod(target, header.mode ?? 0o644);
        } else stream.resume();
      })().then(() => next(), (err: Error) => {
        ex.destroy(err);
        rej(err);
      });
    });
    ex.on('finish', () => res());
    ex.on('error', rej);
  });
  tar.pipe(ex);
  await done;
}

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy' },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const src = splitContainerPath(ctx.args[0]!);
    const dst = splitContainerPath(ctx.args[1]!);
    if (src.container && dst.container) {
      ctx.io.stderr.write('copying between containers is not supported\n');
      return 1;
    }
    if (!src.container && !dst.container) {
      ctx.io.stderr.write('must specify at least one container source\n');
      return 1;
    }
    const client = await ctx.client();
    if (src.container) {
      let srcPath = src.path;
      if (bool(ctx.flags, 'follow-link') && !srcPath.endsWith('/')) srcPath += '/.';
      const res = await client.stream('GET', `/containers/${encodeURIComponent(src.container)}/archive`, { query: { path: srcPath } });
      if (dst.path === '-') {
        await pipeline(res, ctx.io.stdout, { end: false });
        return 0;
      }
      const destStat = await stat(dst.path).catch(() => undefined);
      if (destStat?.isDirectory()) await extractTo(res, dst.path, undefined);
      else {
        const parent = await stat(dirname(resolve(dst.path))).catch(() => undefined);
        if (!parent?.isDirectory()) {
          res.resume();
          ctx.io.stderr.write(`destination directory ${dirname(dst.path)} does not exist\n`);
          return 1;
        }
        await extractTo(res, dirname(resolve(dst.path)), basename(dst.path));
      }
      return 0;
    }
    // host → container
    const container = dst.container!;
    let putPath = dst.path;
    let body: Readable;
    if (src.path === '-') body = ctx.io.stdin;
    else {
      const srcAbs = resolve(src.path);
      if (!(await stat(srcAbs).catch(() => undefined))) {
        ctx.io.stderr.write(`lstat ${srcAbs}: no such file or directory\n`);
        return 1;
      }
      const target = await pathStat(client, container, dst.path);
      const intoDir = target !== undefined && (target.mode & GO_DIR) !== 0;
      if (!intoDir) putPath = dirname(dst.path) || '/';
      const base = basename(srcAbs);
      const args = ['-c', '--numeric-owner', '-C', dirname(srcAbs)];
      // Not into an existing directory: the copy takes the destination's name.
      if (!intoDir) args.push(`--transform=s|^${base.replace(/[|\\^$.*[\]]/g, '\\$&')}|${basename(dst.path)}|`);
      args.push('--', base);
      body = spawn('tar', args, { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!;
    }
    const res = await client.stream('PUT', `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path: putPath, noOverwriteDirNonDir: 'true', copyUIDGID: bool(ctx.flags, 'archive') ? 'true' : undefined },
      body,
    });
    res.resume();
    void writeFile;
    void join;
    return 0;
  },
};
export default command;
