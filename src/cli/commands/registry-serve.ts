import type { CommandDef } from '../command.ts';

/**
 * `berth registry serve …`: the registry server, run in this process. A
 * dynamic import, so the bundle keeps it (and node:http, ~45 ms to load) in
 * a chunk of its own that other commands never load.
 */
const command: CommandDef = {
  usage: '[--addr HOST:PORT] --root DIR',
  description: 'Serve an OCI distribution (v2) registry from DIR',
  flags: [],
  rawArgs: true,
  async run(ctx) {
    const mod = await import('../../registry/main.ts');
    return mod.runRegistryCommand(['serve', ...ctx.args]);
  },
};
export default command;
