import type { CommandDef } from '../command.ts';
import { parseReference, referenceName } from '../../image/reference.ts';

const command: CommandDef = {
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const [source, target] = ctx.args as [string, string];
    const ref = parseReference(target);
    if (ref.digest) throw new Error('refusing to create a tag with a digest reference');
    const client = await ctx.client();
    const res = await client.stream('POST', `/images/${source}/tag`, { query: { repo: referenceName(ref), tag: ref.tag ?? 'latest' } });
    res.resume();
  },
};
export default command;
