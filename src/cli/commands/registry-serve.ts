import type { CommandDef } from '../command.ts';

/**
 * `berth registry serve …`: the registry colleague's command, run in this
 * process. Loaded at run time from the source tree rather than bundled: the
 * registry server needs node:http, whose load cost (~45 ms) every other
 * `berth` command would otherwise pay at start-up (the bundle hoists imports).
 */
function registryModuleUrl(): string {
  const relative = process.env.BERTH_BUNDLED === '1' ? '../src/registry/main.ts' : '../../registry/main.ts';
  return new URL(relative, import.meta.url).href;
}

const command: CommandDef = {
  usage: '[--addr HOST:PORT] --root DIR',
  description: 'Serve an OCI distribution (v2) registry from DIR',
  flags: [],
  rawArgs: true,
  async run(ctx) {
    const url = registryModuleUrl();
    const mod = (await import(url)) as { runRegistryCommand(argv: string[]): Promise<number> };
    return mod.runRegistryCommand(['serve', ...ctx.args]);
  },
};
export default command;
