import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { parseReference, referenceName, referenceString, withDefaultTag } from '../../image/reference.ts';
import { displayStream } from '../progress-display.ts';
import { registryAuthHeader } from '../registry-auth.ts';

const command: CommandDef = {
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable (e.g. linux/amd64)' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const ref = parseReference(ctx.args[0]!);
    const full = ref.digest ? ref : withDefaultTag(ref);
    const quiet = bool(ctx.flags, 'quiet');
    if (!ref.tag && !ref.digest && !quiet) ctx.io.stdout.write('Using default tag: latest\n');
    const client = await ctx.client();
    const messages = client.messages('POST', '/images/create', {
      query: { fromImage: referenceName(full), tag: full.digest ?? full.tag, platform: str(ctx.flags, 'platform') },
      headers: { 'X-Registry-Auth': await registryAuthHeader(full.domain) },
    });
    await displayStream(messages, ctx.io.stdout, quiet);
    ctx.io.stdout.write(referenceString(full) + '\n');
  },
};
export default command;
