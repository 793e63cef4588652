import type { CommandDef } from '../command.ts';
import { bool } from '../command.ts';
import { errorMessage } from '../../common/errors.ts';

const command: CommandDef = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes. You cannot remove a volume that is in use by a container.',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' }],
  minArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const errors: string[] = [];
    for (const name of ctx.args) {
      try {
        const res = await client.stream('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force: bool(ctx.flags, 'force') ? '1' : undefined } });
        res.resume();
        ctx.io.stdout.write(`${name}\n`);
      } catch (err) {
        if ((err as { name?: string }).name !== 'ApiError') throw err;
        errors.push(`Error response from daemon: ${errorMessage(err)}`);
      }
    }
    if (errors.length) {
      ctx.io.stderr.write(errors.join('\n') + '\n');
      return 1;
    }
  },
};
export default command;
