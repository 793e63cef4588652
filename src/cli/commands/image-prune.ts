import type { ImagesPruneReport } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { bool, list } from '../command.ts';
import { confirm } from '../prompt.ts';
import { tableSize } from '../output.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Remove unused images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")', value: 'filter' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const all = bool(ctx.flags, 'all');
    const filters: Record<string, Record<string, boolean>> = { dangling: { [all ? 'false' : 'true']: true } };
    for (const f of list(ctx.flags, 'filter')) {
      const eq = f.indexOf('=');
      if (eq <= 0) throw new Error(`bad format of filter (expected name=value): "${f}"`);
      (filters[f.slice(0, eq)] ??= {})[f.slice(eq + 1)] = true;
    }
    if (!bool(ctx.flags, 'force')) {
      const warning = all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!(await confirm(ctx.io.stdin, ctx.io.stdout, warning))) return;
    }
    const client = await ctx.client();
    const report = await client.json<ImagesPruneReport>('POST', '/images/prune', { query: { filters: JSON.stringify(filters) } });
    const deleted = report.ImagesDeleted ?? [];
    if (deleted.length) {
      ctx.io.stdout.write('Deleted Images:\n');
      for (const item of deleted) {
        if (item.Untagged) ctx.io.stdout.write(`untagged: ${item.Untagged}\n`);
        if (item.Deleted) ctx.io.stdout.write(`deleted: ${item.Deleted}\n`);
      }
      ctx.io.stdout.write('\n');
    }
    ctx.io.stdout.write(`Total reclaimed space: ${tableSize(report.SpaceReclaimed)}\n`);
  },
};
export default command;
