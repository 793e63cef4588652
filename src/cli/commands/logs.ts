import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { FrameReader } from '../../api/container-stdio.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  flags: [
    { name: 'details', type: 'bool', description: 'Show extra details provided to logs', hidden: true },
    { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
    { name: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', description: 'Number of lines to show from the end of the logs', default: 'all' },
    { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
    { name: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const info = await client.json<{ Id: string; Config: { Tty?: boolean } }>('GET', `/containers/${encodeURIComponent(ctx.args[0]!)}/json`);
    const res = await client.stream('GET', `/containers/${info.Id}/logs`, {
      query: {
        stdout: '1',
        stderr: '1',
        follow: bool(ctx.flags, 'follow') ? '1' : undefined,
        since: str(ctx.flags, 'since'),
        until: str(ctx.flags, 'until'),
        timestamps: bool(ctx.flags, 'timestamps') ? '1' : undefined,
        tail: str(ctx.flags, 'tail') ?? 'all',
      },
    });
    const reader = new FrameReader();
    const onSignal = () => res.destroy();
    process.once('SIGINT', onSignal);
    try {
      for await (const chunk of res) {
        if (info.Config.Tty) ctx.io.stdout.write(chunk as Buffer);
        else for (const f of reader.push(chunk as Buffer)) (f.stream === 2 ? ctx.io.stderr : ctx.io.stdout).write(f.data);
      }
    } catch {
      /* interrupted */
    } finally {
      process.off('SIGINT', onSignal);
    }
  },
};
export default command;
