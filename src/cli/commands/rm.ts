import type { CommandDef } from '../command.ts';
import { bool } from '../command.ts';
import { forEachContainer } from './container-each.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
  minArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    return forEachContainer(ctx, async (ref) => {
      const res = await client.stream('DELETE', `/containers/${encodeURIComponent(ref)}`, {
        query: { force: bool(ctx.flags, 'force') ? 1 : undefined, v: bool(ctx.flags, 'volumes') ? 1 : undefined },
      });
      res.resume();
    }, true, { notFoundIsFine: bool(ctx.flags, 'force') });
  },
};
export default command;
