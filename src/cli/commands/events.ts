import type { CommandDef } from '../command.ts';
import { filtersJson, list, str } from '../command.ts';
import { renderEach } from '../format/render.ts';
import { jsonLines } from '../../client/client.ts';

interface EventLine {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

/** Go's RFC3339Nano from nanoseconds (trailing zeros of the fraction dropped). */
function rfc3339Nano(nano: number): string {
  const ms = Math.floor(nano / 1e6);
  const iso = new Date(ms).toISOString().slice(0, 19);
  const frac = String(Math.round(nano % 1e9)).padStart(9, '0').replace(/0+$/, '');
  return `${iso}${frac ? '.' + frac : ''}Z`;
}

/** docker events' default line: "TIME TYPE ACTION ID (k=v, …)". */
export function eventLine(e: EventLine): string {
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${rfc3339Nano(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}\n`;
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Get real time events from the server',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided', value: 'filter' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'json' or a Go template" },
    { name: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const res = await client.stream('GET', '/events', {
      query: { since: str(ctx.flags, 'since'), until: str(ctx.flags, 'until'), filters: filtersJson(list(ctx.flags, 'filter')) },
    });
    const format = str(ctx.flags, 'format');
    for await (const msg of jsonLines(res)) {
      const e = msg as unknown as EventLine;
      ctx.io.stdout.write(format ? renderEach(format, [e]) : eventLine(e));
    }
  },
};
export default command;
