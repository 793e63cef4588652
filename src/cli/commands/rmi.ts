import type { ImageDeleteResponseItem } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { bool } from '../command.ts';
import { errorMessage } from '../../common/errors.ts';

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
  ],
  minArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const errors: string[] = [];
    for (const name of ctx.args) {
      try {
        const items = await client.json<ImageDeleteResponseItem[]>('DELETE', `/images/${name}`, {
          query: { force: bool(ctx.flags, 'force') ? '1' : undefined, noprune: bool(ctx.flags, 'no-prune') ? '1' : undefined },
        });
        for (const item of items ?? []) {
          if (item.Untagged) ctx.io.stdout.write(`Untagged: ${item.Untagged}\n`);
          if (item.Deleted) ctx.io.stdout.write(`Deleted: ${item.Deleted}\n`);
        }
      } catch (err) {
        errors.push((err as { name?: string }).name === 'ApiError' ? `Error response from daemon: ${errorMessage(err)}` : errorMessage(err));
      }
    }
    if (errors.length) {
      ctx.io.stderr.write(errors.join('\n') + '\n');
      return 1;
    }
  },
};
export default command;
