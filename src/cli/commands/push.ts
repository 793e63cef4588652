import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { parseReference, referenceName } from '../../image/reference.ts';
import { displayStream } from '../progress-display.ts';
import { registryAuthHeader } from '../registry-auth.ts';

const command: CommandDef = {
  usage: '[OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
    { name: 'platform', type: 'string', description: 'Push a platform-specific manifest as a single-platform image', hidden: true },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const ref = parseReference(ctx.args[0]!);
    const allTags = bool(ctx.flags, 'all-tags');
    if (allTags && ref.tag) throw new Error('tag can\'t be used with --all-tags/-a');
    if (ref.digest) throw new Error('cannot push a digest reference');
    const name = referenceName(ref);
    const tag = allTags ? undefined : (ref.tag ?? 'latest');
    if (!allTags && !ref.tag && !bool(ctx.flags, 'quiet')) ctx.io.stdout.write(`Using default tag: latest\n`);
    const client = await ctx.client();
    const messages = client.messages('POST', `/images/${name}/push`, {
      query: { tag, platform: str(ctx.flags, 'platform') },
      headers: { 'X-Registry-Auth': await registryAuthHeader(ref.domain) },
    });
    const quiet = bool(ctx.flags, 'quiet');
    await displayStream(messages, ctx.io.stdout, quiet);
    if (quiet) ctx.io.stdout.write(`${name}${tag ? `:${tag}` : ''}\n`);
  },
};
export default command;
