import type { CommandDef } from '../command.ts';

/** `berth registry serve …`: the registry colleague's command, run in this process. */
const command: CommandDef = {
  usage: '[--addr HOST:PORT] --root DIR',
  description: 'Serve an OCI distribution (v2) registry from DIR',
  flags: [],
  rawArgs: true,
  async run(ctx) {
    const { runRegistryCommand } = await import('../../registry/main.ts');
    return runRegistryCommand(['serve', ...ctx.args]);
  },
};
export default command;
