import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { forEachContainer, post } from './container-each.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  flags: [{ name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }],
  minArgs: 1,
  async run(ctx) {
    return forEachContainer(ctx, (ref) => post(ctx, `/containers/${encodeURIComponent(ref)}/kill`, { signal: str(ctx.flags, 'signal') }));
  },
};
export default command;
