import type { CommandDef } from '../command.ts';
import { post } from './container-each.ts';

const command: CommandDef = {
  usage: 'CONTAINER NEW_NAME',
  description: 'Rename a container',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    await post(ctx, `/containers/${encodeURIComponent(ctx.args[0]!)}/rename`, { name: ctx.args[1]! });
  },
};
export default command;
