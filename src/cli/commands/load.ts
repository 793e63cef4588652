import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { displayStream } from '../progress-display.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  flags: [
    { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const input = str(ctx.flags, 'input');
    if (!input && ctx.io.stdin.isTTY) throw new Error('requested load from stdin, but stdin is empty');
    if (input) await access(input);
    const body = input ? createReadStream(input) : ctx.io.stdin;
    const quiet = bool(ctx.flags, 'quiet') || !ctx.io.stdout.isTTY;
    const client = await ctx.client();
    const messages = client.messages('POST', '/images/load', { query: { quiet: quiet ? '1' : '0' }, body });
    await displayStream(messages, ctx.io.stdout, false);
  },
};
export default command;
