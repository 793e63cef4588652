import type { CommandDef } from '../command.ts';
import { ApiError } from '../../client/client.ts';
import { CREATE_FLAGS } from './container-options.ts';
import { RunError, createContainer } from './run.ts';

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  flags: CREATE_FLAGS,
  minArgs: 1,
  noInterspersed: true,
  async run(ctx) {
    const client = await ctx.client();
    try {
      const { id } = await createContainer(ctx, client, false);
      ctx.io.stdout.write(id + '\n');
      return 0;
    } catch (err) {
      if (err instanceof RunError) {
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        return err.exitCode;
      }
      const msg = err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message;
      ctx.io.stderr.write(`berth: ${msg}\n\nRun 'berth create --help' for more information\n`);
      return 125;
    }
  },
};
export default command;
