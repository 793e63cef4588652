import type { CommandDef } from '../command.ts';
import { ApiError } from '../../client/client.ts';

const command: CommandDef = {
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  minArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    let failed = false;
    for (const ref of ctx.args) {
      try {
        const r = await client.json<{ StatusCode: number }>('POST', `/containers/${encodeURIComponent(ref)}/wait`, { query: { condition: 'not-running' } });
        ctx.io.stdout.write(`${r.StatusCode}\n`);
      } catch (err) {
        failed = true;
        ctx.io.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
export default command;
