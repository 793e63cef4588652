import type { CommandDef } from '../command.ts';
import { FORMAT_FLAG, inspectEach } from '../inspect-output.ts';

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  flags: [FORMAT_FLAG],
  minArgs: 1,
  run: (ctx) => inspectEach(ctx, (name) => `/images/${name}/json`, (name) => `Error: No such image: ${name}`),
};
export default command;
