import type { VolumesPruneReport } from '../../api/volume-types.ts';
import type { CommandDef } from '../command.ts';
import { bool, list } from '../command.ts';
import { confirm } from '../prompt.ts';
import { tableSize } from '../output.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Remove unused local volumes',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<label>")', value: 'filter' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const all = bool(ctx.flags, 'all');
    const filters: Record<string, Record<string, boolean>> = {};
    for (const f of list(ctx.flags, 'filter')) {
      const eq = f.indexOf('=');
      if (eq <= 0) throw new Error(`bad format of filter (expected name=value): "${f}"`);
      (filters[f.slice(0, eq)] ??= {})[f.slice(eq + 1)] = true;
    }
    if (all) {
      if (filters.all) throw new Error('conflicting options: cannot specify both --all and --filter all=1');
      filters.all = { true: true };
    }
    if (!bool(ctx.flags, 'force')) {
      const warning = all
        ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      if (!(await confirm(ctx.io.stdin, ctx.io.stdout, warning))) return;
    }
    const client = await ctx.client();
    const report = await client.json<VolumesPruneReport>('POST', '/volumes/prune', {
      query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    });
    const deleted = report.VolumesDeleted ?? [];
    if (deleted.length) ctx.io.stdout.write(`Deleted Volumes:\n${deleted.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${tableSize(report.SpaceReclaimed)}\n`);
  },
};
export default command;
