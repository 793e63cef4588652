import type { CommandDef } from '../command.ts';
import { FORMAT_FLAG, inspectEach } from '../inspect-output.ts';

const command: CommandDef = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  flags: [FORMAT_FLAG],
  minArgs: 1,
  run: (ctx) => inspectEach(ctx, (name) => `/volumes/${encodeURIComponent(name)}`),
};
export default command;
