import type { CommandDef } from '../command.ts';
import { forEachContainer, post } from './container-each.ts';

const command: CommandDef = {
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Pause all processes within one or more containers',
  flags: [],
  minArgs: 1,
  async run(ctx) {
    return forEachContainer(ctx, (ref) => post(ctx, `/containers/${encodeURIComponent(ref)}/pause`));
  },
};
export default command;
