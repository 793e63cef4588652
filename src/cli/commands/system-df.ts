import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import type { ContainerSummary } from '../../api/container-wire.ts';
import type { ImageSummary } from '../../api/types.ts';
import { renderList } from '../format/render.ts';
import { tableSize } from '../output.ts';

interface DfVolume {
  Name: string;
  UsageData: { RefCount: number; Size: number };
}

const HEADERS = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };

function pct(part: number, total: number): string {
  return total > 0 ? ` (${Math.round((part / total) * 100)}%)` : '';
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Show docker disk usage',
  flags: [
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage', hidden: true },
  ],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const df = await client.json<{ LayersSize: number; Images: ImageSummary[]; Containers: ContainerSummary[]; Volumes: DfVolume[] }>('GET', '/system/df');
    const imgSize = df.LayersSize;
    const activeImages = df.Images.filter((i) => i.Containers > 0);
    const imgUsed = activeImages.reduce((n, i) => n + i.Size, 0);
    const ctrSize = df.Containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
    const running = df.Containers.filter((c) => c.State === 'running' || c.State === 'paused');
    const ctrReclaim = df.Containers.filter((c) => c.State !== 'running' && c.State !== 'paused').reduce((n, c) => n + (c.SizeRw ?? 0), 0);
    const volSize = df.Volumes.reduce((n, v) => n + Math.max(0, v.UsageData.Size), 0);
    const volActive = df.Volumes.filter((v) => v.UsageData.RefCount > 0);
    const volReclaim = df.Volumes.filter((v) => v.UsageData.RefCount === 0).reduce((n, v) => n + Math.max(0, v.UsageData.Size), 0);
    const rows = [
      { Type: 'Images', TotalCount: String(df.Images.length), Active: String(activeImages.length), Size: tableSize(imgSize), Reclaimable: `${tableSize(imgSize - imgUsed)}${pct(imgSize - imgUsed, imgSize)}` },
      { Type: 'Containers', TotalCount: String(df.Containers.length), Active: String(running.length), Size: tableSize(ctrSize), Reclaimable: `${tableSize(ctrReclaim)}${pct(ctrReclaim, ctrSize)}` },
      { Type: 'Local Volumes', TotalCount: String(df.Volumes.length), Active: String(volActive.length), Size: tableSize(volSize), Reclaimable: `${tableSize(volReclaim)}${pct(volReclaim, volSize)}` },
      { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
    ];
    let format = str(ctx.flags, 'format') ?? '';
    if (format === '' || format === 'table') format = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
    void bool;
    ctx.io.stdout.write(renderList(format, rows, HEADERS));
  },
};
export default command;
