import type { CommandDef } from '../command.ts';
import { filtersJson, list, str } from '../command.ts';
import { renderEach } from '../format/render.ts';
import { jsonLines } from '../../client/client.ts';

interface EventLine {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope?: string;
  time: number;
  timeNano: number;
}

/**
 * What --format templates see: the docker CLI's events.Message, whose Go
 * field names (Status, ID, From, Scope, Time, TimeNano) differ from its JSON
 * names; `{{json .}}` and `--format json` give the JSON as it came.
 */
export function eventMessage(e: EventLine): Record<string, unknown> {
  const message = {
    Status: e.status ?? '',
    ID: e.id ?? '',
    From: e.from ?? '',
    Type: e.Type,
    Action: e.Action,
    Actor: e.Actor,
    Scope: e.scope ?? '',
    Time: e.time ?? 0,
    TimeNano: e.timeNano ?? 0,
  };
  return Object.defineProperty(message, 'toJSON', { value: () => e, enumerable: false });
}

/**
 * The docker CLI's event time: RFC3339NanoFixed (always nine digits) in the
 * local time zone ("Z" when that is UTC), from timeNano (time when absent).
 */
export function eventTime(e: Pick<EventLine, 'time' | 'timeNano'>): string {
  // (String(): the shortest decimal of the double JSON.parse made, i.e. the digits the daemon sent when it sent milliseconds.)
  const exact = e.timeNano && /^\d+$/.test(String(e.timeNano)) ? BigInt(String(e.timeNano)) : undefined;
  const nano = exact ?? (e.timeNano ? BigInt(Math.round(e.timeNano)) : BigInt(e.time ?? 0) * 1_000_000_000n);
  const secs = nano / 1_000_000_000n;
  const frac = String(nano % 1_000_000_000n).padStart(9, '0');
  const at = new Date(Number(secs) * 1000);
  const offsetMin = -at.getTimezoneOffset();
  const local = new Date(at.getTime() + offsetMin * 60_000).toISOString().slice(0, 19);
  const zone = offsetMin === 0 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMin) % 60).padStart(2, '0')}`;
  return `${local}.${frac}${zone}`;
}

/** docker events' default line: "TIME TYPE ACTION ID (k=v, …)". */
export function eventLine(e: EventLine): string {
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${eventTime(e)} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}\n`;
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
      ctx.io.stdout.write(format ? renderEach(format, [eventMessage(e)]) : eventLine(e));
    }
  },
};
export default command;
