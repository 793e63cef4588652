import type { NetworksPruneReport } from '../../api/network-types.ts';
import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list } from '../command.ts';
import { confirm } from '../prompt.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Remove all unused networks',
  flags: [
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")', value: 'filter' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx) {
    if (!bool(ctx.flags, 'force')) {
      const ok = await confirm(ctx.io.stdin, ctx.io.stdout, 'WARNING! This will remove all custom networks not used by at least one container.');
      if (!ok) return;
    }
    const client = await ctx.client();
    const report = await client.json<NetworksPruneReport>('POST', '/networks/prune', { query: { filters: filtersJson(list(ctx.flags, 'filter')) } });
    const deleted = report.NetworksDeleted ?? [];
    if (deleted.length) ctx.io.stdout.write(`Deleted Networks:\n${deleted.join('\n')}\n`);
  },
};
export default command;
