import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { followWindowSize, proxySignals, pumpStreams, rawTerminal } from './container-stdio.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  description: "Attach local standard input, output, and error streams to a running container",
  flags: [
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
    { name: 'sig-proxy', type: 'bool', description: 'Proxy all received signals to the process', default: 'true' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const info = await client.json<{ Id: string; State: { Running: boolean; Paused: boolean }; Config: { Tty?: boolean; OpenStdin?: boolean } }>(
      'GET',
      `/containers/${encodeURIComponent(ctx.args[0]!)}/json`,
    );
    if (!info.State.Running) {
      ctx.io.stderr.write('You cannot attach to a stopped container, start it first\n');
      return 1;
    }
    if (info.State.Paused) {
      ctx.io.stderr.write('You cannot attach to a paused container, unpause it first\n');
      return 1;
    }
    const tty = !!info.Config.Tty;
    const stdin = !bool(ctx.flags, 'no-stdin') && !!info.Config.OpenStdin;
    const waitRes = await client.stream('POST', `/containers/${info.Id}/wait`, { query: { condition: 'next-exit' } });
    const conn = await client.hijack('POST', `/containers/${info.Id}/attach`, {
      query: { stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: str(ctx.flags, 'detach-keys') },
    });
    const restore = rawTerminal(ctx.io, tty && stdin);
    const stopResize = followWindowSize(client, `/containers/${info.Id}/resize`, ctx.io, tty);
    const stopSignals = !tty && ctx.flags['sig-proxy'] !== false ? proxySignals(client, info.Id) : () => {};
    try {
      const r = await pumpStreams(conn, ctx.io, { tty, stdin, stdout: true, stderr: true, ...(str(ctx.flags, 'detach-keys') ? { detachKeys: str(ctx.flags, 'detach-keys')! } : {}) });
      // The docker CLI's attach ends with its escape error here (run's detach is no error).
      if (r.detached) {
        restore();
        ctx.io.stderr.write('read escape sequence\n');
        return 1;
      }
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
