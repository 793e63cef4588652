import type { CommandDef } from '../command.ts';
import { bool, list, str } from '../command.ts';
import { ApiError } from '../../client/client.ts';
import { parseEnvFile } from './container-options.ts';
import { followWindowSize, pumpStreams, rawTerminal } from './container-stdio.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
    { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
    { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  ],
  minArgs: 2,
  noInterspersed: true,
  async run(ctx) {
    const [ref, ...cmd] = ctx.args;
    const detach = bool(ctx.flags, 'detach');
    const tty = bool(ctx.flags, 'tty');
    const interactive = bool(ctx.flags, 'interactive');
    const env: string[] = [];
    for (const f of list(ctx.flags, 'env-file')) env.push(...parseEnvFile(f, ctx.env));
    for (const e of list(ctx.flags, 'env')) {
      if (e.includes('=')) env.push(e);
      else if (ctx.env[e] !== undefined) env.push(`${e}=${ctx.env[e]}`);
    }
    const client = await ctx.client();
    const out = ctx.io.stdout as NodeJS.WriteStream & { isTTY?: boolean; rows?: number; columns?: number };
    const body = {
      User: str(ctx.flags, 'user') ?? '',
      Privileged: bool(ctx.flags, 'privileged'),
      Tty: tty,
      AttachStdin: interactive && !detach,
      AttachStderr: !detach,
      AttachStdout: !detach,
      Detach: detach,
      DetachKeys: str(ctx.flags, 'detach-keys') ?? '',
      Env: env.length ? env : null,
      WorkingDir: str(ctx.flags, 'workdir') ?? '',
      Cmd: cmd,
      ...(tty && out.isTTY && out.rows ? { ConsoleSize: [out.rows, out.columns] } : {}),
    };
    let execId: string;
    try {
      execId = (await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(ref!)}/exec`, { body })).Id;
    } catch (err) {
      ctx.io.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
      return 1;
    }
    if (detach) {
      const res = await client.stream('POST', `/exec/${execId}/start`, { body: { Detach: true, Tty: tty } });
      res.resume();
      return 0;
    }
    let conn;
    try {
      conn = await client.hijack('POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: tty } });
    } catch (err) {
      const message = (err as Error).message;
      ctx.io.stderr.write(`Error response from daemon: ${message}\n`);
      return 126;
    }
    const restore = rawTerminal(ctx.io, tty && interactive);
    const stopResize = followWindowSize(client, `/exec/${execId}/resize`, ctx.io, tty);
    try {
      const r = await pumpStreams(conn, ctx.io, { tty, stdin: interactive, stdout: true, stderr: true, ...(str(ctx.flags, 'detach-keys') ? { detachKeys: str(ctx.flags, 'detach-keys')! } : {}) });
      if (r.detached) return 0;
    } finally {
      stopResize();
      restore();
    }
    const info = await client.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${execId}/json`);
    return info.ExitCode ?? 0;
  },
};
export default command;
