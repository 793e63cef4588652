import type { Volume, VolumeCreateOptions } from '../../api/volume-types.ts';
import type { CommandDef } from '../command.ts';
import { list, str } from '../command.ts';
import { UsageError } from '../args.ts';

/** "k=v" flags into a map (`--label k` alone means an empty value, as docker's). */
function keyValues(values: string[], flag: string, needValue: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0 || (needValue && eq < 0)) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: invalid key value pair format: ${v}`);
    if (eq < 0) out[v] = '';
    else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

const command: CommandDef = {
  usage: '[OPTIONS] [VOLUME]',
  description: 'Create a volume',
  flags: [
    { name: 'driver', short: 'd', type: 'string', description: 'Specify volume driver name', value: 'string', default: 'local' },
    { name: 'label', type: 'list', description: 'Set metadata for a volume', value: 'list' },
    { name: 'name', type: 'string', description: 'Specify volume name', value: 'string', hidden: true },
    { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options', value: 'map' },
  ],
  maxArgs: 1,
  async run(ctx) {
    const flagName = str(ctx.flags, 'name');
    if (flagName && ctx.args[0] && flagName !== ctx.args[0]) {
      throw new UsageError(`conflicting options: either specify --name or provide positional arg, not both`);
    }
    const body: VolumeCreateOptions = {
      Name: ctx.args[0] ?? flagName ?? '',
      Driver: str(ctx.flags, 'driver') ?? 'local',
      DriverOpts: keyValues(list(ctx.flags, 'opt'), '-o, --opt', true),
      Labels: keyValues(list(ctx.flags, 'label'), '--label', false),
    };
    const client = await ctx.client();
    const volume = await client.json<Volume>('POST', '/volumes/create', { body });
    ctx.io.stdout.write(`${volume.Name}\n`);
  },
};
export default command;
