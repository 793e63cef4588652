import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list, str } from '../command.ts';
import type { ContainerSummary } from '../../api/container-wire.ts';
import { renderList } from '../format/render.ts';
import { formatCreatedAt, shortId, since, tableSize } from '../output.ts';

/** One row of `ps`: the fields --format templates use, as Docker names them. */
export interface ContainerRow {
  ID: string;
  Image: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Ports: string;
  State: string;
  Status: string;
  Size: string;
  Names: string;
  Labels: string;
  Mounts: string;
  Networks: string;
  /** `{{.Label "k"}}`: the value of one label ("" when unset). */
  Label(name: string): string;
}

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

/** Go's Ellipsis: at most n characters, the last one "…" when cut. */
function ellipsis(s: string, n: number): string {
  const chars = [...s];
  return chars.length <= n ? s : chars.slice(0, n - 1).join('') + '…';
}

export function containerRows(list: ContainerSummary[], opts: { noTrunc: boolean; now?: number }): ContainerRow[] {
  return list.map((c) => {
    const image = !opts.noTrunc && c.Image.startsWith('sha256:') ? shortId(c.Image) : c.Image;
    return {
      ID: opts.noTrunc ? c.Id : shortId(c.Id),
      Image: image,
      Command: `"${opts.noTrunc ? c.Command : ellipsis(c.Command, 20)}"`,
      CreatedAt: formatCreatedAt(c.Created),
      RunningFor: since(c.Created, opts.now),
      Ports: '',
      State: c.State,
      Status: c.Status,
      Size: c.SizeRw === undefined ? '' : c.SizeRootFs ? `${tableSize(c.SizeRw)} (virtual ${tableSize(c.SizeRootFs)})` : tableSize(c.SizeRw),
      Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
      Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
      // The docker CLI's: a volume's name or the source, cut at 15 unless --no-trunc.
      Mounts: c.Mounts.map((m) => (opts.noTrunc ? (m.Name || m.Source) : ellipsis(m.Name || m.Source, 15))).join(','),
      Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
      Label: (name: string) => c.Labels?.[name] ?? '',
    };
  });
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided', value: 'filter' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'last', short: 'n', type: 'string', description: 'Show n last created containers (includes all states)', value: 'int', default: '-1' },
    { name: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const lastRaw = str(ctx.flags, 'last') ?? '-1';
    if (!/^-?\d+$/.test(lastRaw)) {
      ctx.io.stderr.write(`invalid argument "${lastRaw}" for "-n, --last" flag: strconv.ParseInt: parsing "${lastRaw}": invalid syntax\n`);
      return 125;
    }
    let last = Number(lastRaw);
    if (bool(ctx.flags, 'latest') && last === -1) last = 1;
    let format = str(ctx.flags, 'format') ?? '';
    const size = bool(ctx.flags, 'size') || /\.Size\b/.test(format);
    const client = await ctx.client();
    const found = await client.json<ContainerSummary[]>('GET', '/containers/json', {
      query: {
        all: bool(ctx.flags, 'all') || last > 0 ? '1' : undefined,
        limit: last > 0 ? last : undefined,
        size: size ? '1' : undefined,
        filters: filtersJson(list(ctx.flags, 'filter')),
      },
    });
    const noTrunc = bool(ctx.flags, 'no-trunc');
    if (bool(ctx.flags, 'quiet') && !format) format = '{{.ID}}';
    if (format === '' || format === 'table') {
      format = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${size ? '\t{{.Size}}' : ''}`;
    }
    ctx.io.stdout.write(renderList(format, containerRows(found, { noTrunc }), PS_HEADERS));
  },
};
export default command;
