import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { forEachContainer, post } from './container-each.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Restart one or more containers',
  flags: [
    { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
    { name: 'time', short: 't', type: 'string', description: 'Seconds to wait before killing the container', value: 'int' },
  ],
  minArgs: 1,
  async run(ctx) {
    return forEachContainer(ctx, (ref) => post(ctx, `/containers/${encodeURIComponent(ref)}/restart`, { t: str(ctx.flags, 'time'), signal: str(ctx.flags, 'signal') }));
  },
};
export default command;
