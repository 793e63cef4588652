import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { FORMAT_FLAG, writeInspected } from '../inspect-output.ts';

/** `berth inspect`: containers, images, networks, volumes, in docker's lookup order, or only the --type asked for. */
const command: CommandDef = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on Docker objects',
  flags: [
    FORMAT_FLAG,
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' },
    { name: 'type', type: 'string', description: 'Return JSON for specified type (container, image, network, volume)' },
  ],
  minArgs: 1,
  async run(ctx) {
    const type = str(ctx.flags, 'type') ?? '';
    if (!['', 'container', 'image', 'network', 'volume'].includes(type)) {
      ctx.io.stderr.write(`"${type}" is not a valid value for --type\n`);
      return 1;
    }
    const client = await ctx.client();
    const found: unknown[] = [];
    const errors: string[] = [];
    const lookup = (path: string, query?: Record<string, string | undefined>) =>
      client.json(`GET`, path, query ? { query } : {}).catch((err: { status?: number }) => {
        if (err.status !== 404) throw err;
        return undefined;
      });
    for (const name of ctx.args) {
      let obj: unknown;
      if (!type || type === 'container') {
        obj = await lookup(`/containers/${encodeURIComponent(name)}/json`, { size: bool(ctx.flags, 'size') ? '1' : undefined });
      }
      if (obj === undefined && (!type || type === 'image')) obj = await lookup(`/images/${name}/json`);
      if (obj === undefined && (!type || type === 'network')) obj = await lookup(`/networks/${encodeURIComponent(name)}`);
      if (obj === undefined && (!type || type === 'volume')) obj = await lookup(`/volumes/${encodeURIComponent(name)}`);
      if (obj === undefined) errors.push(type ? `Error: No such ${type}: ${name}` : `Error: No such object: ${name}`);
      else found.push(obj);
    }
    return writeInspected(ctx, found, errors);
  },
};
export default command;
