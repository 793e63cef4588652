/** `berth container inspect`: the inspect command restricted to containers. */
import type { CommandDef } from '../command.ts';
import inspect from './inspect.ts';

const command: CommandDef = {
  ...inspect,
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Display detailed information on one or more containers',
  flags: inspect.flags.filter((f) => f.name !== 'type'),
  run: (ctx) => inspect.run({ ...ctx, flags: { ...ctx.flags, type: 'container' } }),
};
export default command;
