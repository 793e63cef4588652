import type { NetworkResource } from '../../api/network-types.ts';
import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list, str } from '../command.ts';
import { renderList } from '../format/render.ts';
import { naturalCompare } from '../output.ts';

/** One row of `network ls` (and its JSON line, keys sorted), as Docker names the fields. */
export interface NetworkRow {
  CreatedAt: string;
  Driver: string;
  ID: string;
  IPv4: string;
  IPv6: string;
  Internal: string;
  Labels: string;
  Name: string;
  Scope: string;
  /** `{{.Label "k"}}`: the value of one label ("" when unset). */
  Label(name: string): string;
}

const HEADERS: Record<string, string> = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv4: 'IPV4',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};

/** Go's time.Time String(): "2006-01-02 15:04:05.999999999 +0000 UTC". */
function goTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 UTC`;
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'List networks',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'driver=bridge')", value: 'filter' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const networks = await client.json<NetworkResource[]>('GET', '/networks', { query: { filters: filtersJson(list(ctx.flags, 'filter')) } });
    const noTrunc = bool(ctx.flags, 'no-trunc');
    let format = str(ctx.flags, 'format') ?? '';
    if (bool(ctx.flags, 'quiet') && !format) format = '{{.ID}}';
    if (format === '' || format === 'table') format = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
    const rows: NetworkRow[] = [...networks]
      .sort((a, b) => naturalCompare(a.Name, b.Name))
      .map((n) => ({
        CreatedAt: goTime(n.Created),
        Driver: n.Driver,
        ID: noTrunc ? n.Id : n.Id.slice(0, 12),
        // EnableIPv4 arrived with API 1.47; before it the docker CLI shows false.
        IPv4: 'false',
        IPv6: String(n.EnableIPv6),
        Internal: String(n.Internal),
        Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
        Name: n.Name,
        Scope: n.Scope,
        Label: (name: string) => n.Labels?.[name] ?? '',
      }));
    ctx.io.stdout.write(renderList(format, rows, HEADERS));
  },
};
export default command;
