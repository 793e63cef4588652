import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { forEachContainer, post } from './container-each.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  flags: [
    { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
    { name: 'time', short: 't', type: 'string', description: 'Seconds to wait before killing the container', value: 'int' },
  ],
  minArgs: 1,
  async run(ctx) {
    const t = str(ctx.flags, 'time');
    if (t !== undefined && !/^-?\d+$/.test(t)) {
      ctx.io.stderr.write(`invalid argument "${t}" for "-t, --time" flag: strconv.ParseInt: parsing "${t}": invalid syntax\n`);
      return 125;
    }
    return forEachContainer(ctx, (ref) => post(ctx, `/containers/${encodeURIComponent(ref)}/stop`, { t, signal: str(ctx.flags, 'signal') }));
  },
};
export default command;
