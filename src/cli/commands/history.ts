import type { ImageHistoryResponseItem } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { renderList } from '../format/render.ts';
import { shortId, since, tableSize } from '../output.ts';

/** Docker's ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}

function rfc3339(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE',
  description: 'Show the history of an image',
  flags: [
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'human', short: 'H', type: 'bool', description: 'Print sizes and dates in human readable format', default: 'true' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const client = await ctx.client();
    const items = await client.json<ImageHistoryResponseItem[]>('GET', `/images/${ctx.args[0]}/history`);
    const human = bool(ctx.flags, 'human');
    const noTrunc = bool(ctx.flags, 'no-trunc');
    const rows = items.map((h) => ({
      ID: h.Id === '<missing>' ? '<missing>' : noTrunc ? h.Id : shortId(h.Id),
      CreatedSince: human ? since(h.Created) : rfc3339(h.Created),
      CreatedAt: rfc3339(h.Created),
      CreatedBy: noTrunc ? h.CreatedBy.replace(/\t/g, ' ') : ellipsis(h.CreatedBy.replace(/\t/g, ' '), 45),
      Size: human ? tableSize(h.Size) : String(h.Size),
      Comment: h.Comment,
      Tags: (h.Tags ?? []).join(', '),
    }));
    let format = str(ctx.flags, 'format') ?? '';
    if (bool(ctx.flags, 'quiet')) format = '{{.ID}}';
    else if (format === '' || format === 'table') format = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
    ctx.io.stdout.write(
      renderList(format, rows, { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT', Tags: 'TAGS' }),
    );
  },
};
export default command;
