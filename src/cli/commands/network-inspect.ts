import type { NetworkResource } from '../../api/network-types.ts';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { errorMessage } from '../../common/errors.ts';
import { renderEach } from '../format/render.ts';

const command: CommandDef = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: "Format output using a custom template:\n'json' or a Go template" },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' },
  ],
  minArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const found: NetworkResource[] = [];
    const errors: string[] = [];
    for (const name of ctx.args) {
      try {
        found.push(await client.json<NetworkResource>('GET', `/networks/${encodeURIComponent(name)}`));
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
        errors.push(`Error response from daemon: ${errorMessage(err)}`);
      }
    }
    const format = str(ctx.flags, 'format');
    if (format && format !== 'json') ctx.io.stdout.write(renderEach(format, found));
    else ctx.io.stdout.write(JSON.stringify(found, null, 4).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) + '\n');
    if (errors.length) {
      ctx.io.stderr.write(errors.join('\n') + '\n');
      return 1;
    }
  },
};
export default command;
