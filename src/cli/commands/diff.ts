import type { CommandDef } from '../command.ts';

const command: CommandDef = {
  usage: 'CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const changes = (await client.json<Array<{ Path: string; Kind: number }> | null>('GET', `/containers/${encodeURIComponent(ctx.args[0]!)}/changes`)) ?? [];
    ctx.io.stdout.write(changes.map((c) => `${'CAD'[c.Kind] ?? '?'} ${c.Path}\n`).join(''));
  },
};
export default command;
