import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list } from '../command.ts';
import { confirm } from '../prompt.ts';
import { tableSize } from '../output.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Remove all stopped containers',
  flags: [
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")', value: 'filter' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx) {
    if (!bool(ctx.flags, 'force')) {
      const ok = await confirm(ctx.io.stdin, ctx.io.stdout, 'WARNING! This will remove all stopped containers.');
      if (!ok) return 0;
    }
    const client = await ctx.client();
    const r = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', {
      query: { filters: filtersJson(list(ctx.flags, 'filter')) },
    });
    if (r.ContainersDeleted?.length) ctx.io.stdout.write(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${tableSize(r.SpaceReclaimed)}\n`);
  },
};
export default command;
