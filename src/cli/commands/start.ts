import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { ApiError } from '../../client/client.ts';
import { forEachContainer, post } from './container-each.ts';
import { followWindowSize, proxySignals, pumpStreams, rawTerminal } from './container-stdio.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
  ],
  minArgs: 1,
  async run(ctx) {
    const attach = bool(ctx.flags, 'attach');
    const interactive = bool(ctx.flags, 'interactive');
    if (!attach && !interactive) return forEachContainer(ctx, (ref) => post(ctx, `/containers/${encodeURIComponent(ref)}/start`));
    if (ctx.args.length > 1) {
      ctx.io.stderr.write('you cannot start and attach multiple containers at once\n');
      return 1;
    }
    const client = await ctx.client();
    const info = await client.json<{ Id: string; Config: { Tty?: boolean; OpenStdin?: boolean } }>('GET', `/containers/${encodeURIComponent(ctx.args[0]!)}/json`);
    const tty = !!info.Config.Tty;
    const stdin = interactive && !!info.Config.OpenStdin;
    const conn = await client.hijack('POST', `/containers/${info.Id}/attach`, {
      query: { stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: str(ctx.flags, 'detach-keys') },
    });
    const restore = rawTerminal(ctx.io, tty && stdin);
    const streams = pumpStreams(conn, ctx.io, { tty, stdin, stdout: true, stderr: true, ...(str(ctx.flags, 'detach-keys') ? { detachKeys: str(ctx.flags, 'detach-keys')! } : {}) });
    const waitRes = await client.stream('POST', `/containers/${info.Id}/wait`, { query: { condition: 'next-exit' } });
    try {
      await post(ctx, `/containers/${info.Id}/start`);
    } catch (err) {
      restore();
      ctx.io.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
      return 1;
    }
    const stopResize = followWindowSize(client, `/containers/${info.Id}/resize`, ctx.io, tty);
    const stopSignals = tty ? () => {} : proxySignals(client, info.Id);
    try {
      const r = await streams;
      if (r.detached) return 0;
      const chunks: Buffer[] = [];
      for await (const c of waitRes) chunks.push(c as Buffer);
      return (JSON.parse(Buffer.concat(chunks).toString()) as { StatusCode: number }).StatusCode;
    } finally {
      stopResize();
      stopSignals();
      restore();
    }
  },
};
export default command;
