import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
    { name: 'platform', type: 'string', description: 'Save only the given platform variant', hidden: true },
  ],
  minArgs: 1,
  async run(ctx) {
    const output = str(ctx.flags, 'output');
    if (!output && ctx.io.stdout.isTTY) {
      throw new Error('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    const { pipeline } = process.getBuiltinModule('node:stream/promises');
    const client = await ctx.client();
    const res = await client.stream('GET', '/images/get', { query: { names: ctx.args, platform: str(ctx.flags, 'platform') } });
    if (!output) {
      await pipeline(res, ctx.io.stdout, { end: false });
      return;
    }
    // Write beside the target and rename, so a failed save never leaves a truncated archive under the name.
    const tmp = `${output}.berth-save-${process.pid}`;
    try {
      await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
      await rename(tmp, output);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  },
};
export default command;
