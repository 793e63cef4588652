import type { CommandDef } from '../command.ts';
import { bool, list, str } from '../command.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', description: 'Pause container during commit', default: 'true' },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx) {
    const [ref, target] = ctx.args;
    let repo: string | undefined;
    let tag: string | undefined;
    if (target) {
      const slash = target.lastIndexOf('/');
      const colon = target.lastIndexOf(':');
      if (colon > slash) {
        repo = target.slice(0, colon);
        tag = target.slice(colon + 1);
      } else repo = target;
    }
    const client = await ctx.client();
    const r = await client.json<{ Id: string }>('POST', '/commit', {
      query: {
        container: ref!,
        repo,
        tag,
        author: str(ctx.flags, 'author'),
        comment: str(ctx.flags, 'message'),
        pause: bool(ctx.flags, 'pause') ? '1' : '0',
        changes: list(ctx.flags, 'change'),
      },
      body: {},
    });
    ctx.io.stdout.write(r.Id + '\n');
  },
};
export default command;
