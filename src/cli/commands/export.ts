import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const out = str(ctx.flags, 'output');
    const stdout = ctx.io.stdout as NodeJS.WriteStream & { isTTY?: boolean };
    if (!out && stdout.isTTY) {
      ctx.io.stderr.write('cowardly refusing to save to a terminal. Use the -o flag or redirect\n');
      return 1;
    }
    const client = await ctx.client();
    const res = await client.stream('GET', `/containers/${encodeURIComponent(ctx.args[0]!)}/export`);
    if (out) await pipeline(res, createWriteStream(out));
    else await pipeline(res, ctx.io.stdout, { end: false });
  },
};
export default command;
