import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { CommandDef } from '../command.ts';
import { list, str } from '../command.ts';
import { parseReference, referenceName } from '../../image/reference.ts';

const command: CommandDef = {
  usage: '[OPTIONS] file|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx) {
    const [source, target] = ctx.args as [string, string | undefined];
    if (/^[a-z]+:\/\//i.test(source)) throw new Error(`importing from a URL is not supported by berth: download ${source} and import the file`);
    let repo: string | undefined;
    let tag: string | undefined;
    if (target) {
      const ref = parseReference(target);
      if (ref.digest) throw new Error(`invalid reference format: "${target}": an imported image cannot be named by digest`);
      repo = referenceName(ref);
      tag = ref.tag;
    }
    if (source !== '-') await access(source);
    const body = source === '-' ? ctx.io.stdin : createReadStream(source);
    const client = await ctx.client();
    let id = '';
    for await (const msg of client.messages('POST', '/images/create', {
      query: {
        fromSrc: '-',
        repo,
        tag,
        message: str(ctx.flags, 'message'),
        platform: str(ctx.flags, 'platform'),
        changes: list(ctx.flags, 'change'),
      },
      body,
    })) {
      if (msg.status) id = msg.status;
    }
    ctx.io.stdout.write(`${id}\n`);
  },
};
export default command;
