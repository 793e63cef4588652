import type { CommandDef } from '../command.ts';
import { FORMAT_FLAG, inspectEach } from '../inspect-output.ts';

const command: CommandDef = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  flags: [
    FORMAT_FLAG,
    { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' },
  ],
  minArgs: 1,
  run: (ctx) => inspectEach(ctx, (name) => `/networks/${encodeURIComponent(name)}`),
};
export default command;
