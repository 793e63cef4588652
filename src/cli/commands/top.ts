import type { CommandDef } from '../command.ts';
import { tabwrite } from '../format/tabwriter.ts';

const command: CommandDef = {
  usage: 'CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  flags: [],
  minArgs: 1,
  noInterspersed: true,
  async run(ctx) {
    const [ref, ...psArgs] = ctx.args;
    const client = await ctx.client();
    const top = await client.json<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${encodeURIComponent(ref!)}/top`, {
      query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined },
    });
    let text = top.Titles.join('\t') + '\n';
    for (const p of top.Processes) text += p.join('\t') + '\n';
    ctx.io.stdout.write(tabwrite(text, { minWidth: 20, padding: 3 }));
  },
};
export default command;
