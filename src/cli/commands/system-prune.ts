import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list } from '../command.ts';
import { confirm } from '../prompt.ts';
import { tableSize } from '../output.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Remove unused data',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")', value: 'filter' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const all = bool(ctx.flags, 'all');
    const volumes = bool(ctx.flags, 'volumes');
    if (!bool(ctx.flags, 'force')) {
      const lines = ['WARNING! This will remove:', '  - all stopped containers', '  - all networks not used by at least one container'];
      if (volumes) lines.push('  - all anonymous volumes not used by at least one container');
      lines.push(all ? '  - all images without at least one container associated to them' : '  - all dangling images');
      if (!(await confirm(ctx.io.stdin, ctx.io.stdout, lines.join('\n')))) return;
    }
    const client = await ctx.client();
    const filters = list(ctx.flags, 'filter');
    let total = 0;
    const c = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters: filtersJson(filters) } });
    if (c.ContainersDeleted?.length) ctx.io.stdout.write(`Deleted Containers:\n${c.ContainersDeleted.join('\n')}\n\n`);
    total += c.SpaceReclaimed;
    const n = await client.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters: filtersJson(filters) } });
    if (n.NetworksDeleted?.length) ctx.io.stdout.write(`Deleted Networks:\n${n.NetworksDeleted.join('\n')}\n\n`);
    if (volumes) {
      const v = await client
        .json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: filtersJson(filters) } })
        .catch(() => undefined);
      if (v?.VolumesDeleted?.length) ctx.io.stdout.write(`Deleted Volumes:\n${v.VolumesDeleted.join('\n')}\n\n`);
      total += v?.SpaceReclaimed ?? 0;
    }
    const imageFilters: Record<string, Record<string, boolean>> = JSON.parse(filtersJson(filters) ?? '{}');
    imageFilters.dangling = { [all ? 'false' : 'true']: true };
    const i = await client.json<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('POST', '/images/prune', {
      query: { filters: JSON.stringify(imageFilters) },
    });
    if (i.ImagesDeleted?.length) {
      ctx.io.stdout.write('Deleted Images:\n');
      for (const item of i.ImagesDeleted) {
        if (item.Untagged) ctx.io.stdout.write(`untagged: ${item.Untagged}\n`);
        if (item.Deleted) ctx.io.stdout.write(`deleted: ${item.Deleted}\n`);
      }
      ctx.io.stdout.write('\n');
    }
    total += i.SpaceReclaimed;
    ctx.io.stdout.write(`Total reclaimed space: ${tableSize(total)}\n`);
  },
};
export default command;
