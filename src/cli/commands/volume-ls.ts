import type { Volume, VolumeListResponse } from '../../api/volume-types.ts';
import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list, str } from '../command.ts';
import { renderList } from '../format/render.ts';
import { naturalCompare, tableSize } from '../output.ts';

/** One row of `volume ls`: the fields --format templates use, as Docker names them (and its JSON line, keys sorted). */
export interface VolumeRow {
  Availability: string;
  Driver: string;
  Group: string;
  Labels: string;
  Links: string;
  Mountpoint: string;
  Name: string;
  Scope: string;
  Size: string;
  Status: string;
  /** `{{.Label "k"}}`: the value of one label ("" when unset). */
  Label(name: string): string;
}

export const VOLUME_HEADERS: Record<string, string> = {
  Name: 'VOLUME NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  Mountpoint: 'MOUNTPOINT',
  Labels: 'LABELS',
  Links: 'LINKS',
  Size: 'SIZE',
  Group: 'GROUP',
  Availability: 'AVAILABILITY',
  Status: 'STATUS',
};

export function volumeRows(volumes: Volume[]): VolumeRow[] {
  return volumes.map((v) => ({
    Availability: 'N/A',
    Driver: v.Driver,
    Group: 'N/A',
    Labels: Object.entries(v.Labels ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: v.UsageData ? tableSize(v.UsageData.Size) : 'N/A',
    Status: 'N/A',
    Label: (name: string) => v.Labels?.[name] ?? '',
  }));
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'List volumes',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'dangling=true')", value: 'filter' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const answer = await client.json<VolumeListResponse>('GET', '/volumes', { query: { filters: filtersJson(list(ctx.flags, 'filter')) } });
    for (const w of answer.Warnings ?? []) ctx.io.stderr.write(`${w}\n`);
    let format = str(ctx.flags, 'format') ?? '';
    if (bool(ctx.flags, 'quiet') && !format) format = '{{.Name}}';
    if (format === '' || format === 'table') format = 'table {{.Driver}}\t{{.Name}}';
    // In the docker CLI's order.
    const volumes = [...(answer.Volumes ?? [])].sort((a, b) => naturalCompare(a.Name, b.Name));
    ctx.io.stdout.write(renderList(format, volumeRows(volumes), VOLUME_HEADERS));
  },
};
export default command;
