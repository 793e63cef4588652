import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import type { ContainerSummary } from '../../api/container-wire.ts';
import type { ImageSummary } from '../../api/types.ts';
import { renderEach, renderList } from '../format/render.ts';
import { shortId, since, tableSize } from '../output.ts';
import { humanSize } from '../../api/units.ts';

/** The container table's titles (ps's, with the volume count). */
const PS_HEADERS_DF: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', RunningFor: 'CREATED', Status: 'STATUS', Names: 'NAMES',
};

interface DfVolume {
  Name: string;
  UsageData: { RefCount: number; Size: number };
}

interface DiskUsage {
  LayersSize: number;
  Images: ImageSummary[];
  Containers: ContainerSummary[];
  Volumes: DfVolume[];
}

const IMAGE_TABLE = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}';
const CONTAINER_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}';
const VOLUME_TABLE = 'table {{.Name}}\t{{.Links}}\t{{.Size}}';
const CACHE_TABLE = 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}';
const VERBOSE_HEADERS: Record<string, string> = {
  Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS',
  Name: 'VOLUME NAME', Links: 'LINKS', CacheType: 'CACHE TYPE', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED',
};

/** `system df -v`'s rows, as the docker CLI's disk-usage contexts show them (an image by its first tag, no virtual sizes). */
export async function verboseRows(df: DiskUsage, now = Date.now()) {
  const { containerRows } = await import('./ps.ts');
  const images = df.Images.map((i) => {
    const first = (i.RepoTags ?? []).find((t) => t !== '<none>:<none>');
    const colon = first ? first.lastIndexOf(':') : -1;
    const tagged = first !== undefined && colon > first.lastIndexOf('/');
    const shared = i.SharedSize ?? -1;
    return {
      Repository: tagged ? first.slice(0, colon) : '<none>',
      Tag: tagged ? first.slice(colon + 1) : '<none>',
      ID: shortId(i.Id),
      CreatedSince: since(i.Created, now),
      Size: tableSize(i.Size),
      SharedSize: shared < 0 ? 'N/A' : tableSize(shared),
      // (units.HumanSize: four digits here, where the other columns have three.)
      UniqueSize: shared < 0 || i.Size < 0 ? 'N/A' : humanSize(i.Size - shared, 4),
      Containers: i.Containers < 0 ? 'N/A' : String(i.Containers),
    };
  });
  const containers = containerRows(df.Containers.map((c) => ({ ...c, SizeRootFs: 0 })), { noTrunc: false, now }).map((row, n) => ({
    ...row,
    LocalVolumes: String(df.Containers[n]!.Mounts.filter((m) => m.Driver === 'local').length),
  }));
  const volumes = df.Volumes.map((v) => ({
    Name: v.Name,
    Links: v.UsageData && v.UsageData.RefCount >= 0 ? String(v.UsageData.RefCount) : 'N/A',
    Size: v.UsageData && v.UsageData.Size >= 0 ? tableSize(v.UsageData.Size) : 'N/A',
  }));
  return { Images: images, Containers: containers, Volumes: volumes, BuildCache: [] as Record<string, string>[] };
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
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
  ],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const df = await client.json<DiskUsage>('GET', '/system/df');
    if (bool(ctx.flags, 'verbose')) {
      const rows = await verboseRows(df);
      const custom = str(ctx.flags, 'format') ?? '';
      if (custom === 'json') {
        ctx.io.stdout.write(JSON.stringify(rows) + '\n');
      } else if (custom !== '' && custom !== 'table') {
        // A template over the whole report ({{range .Images}}…), as the docker CLI runs it.
        ctx.io.stdout.write(renderEach(custom, [rows]));
      } else {
        ctx.io.stdout.write(
          'Images space usage:\n\n' + renderList(IMAGE_TABLE, rows.Images, VERBOSE_HEADERS) +
            '\nContainers space usage:\n\n' + renderList(CONTAINER_TABLE, rows.Containers, PS_HEADERS_DF) +
            '\nLocal Volumes space usage:\n\n' + renderList(VOLUME_TABLE, rows.Volumes, VERBOSE_HEADERS) +
            '\nBuild cache usage: 0B\n\n' + renderList(CACHE_TABLE, [], { ...VERBOSE_HEADERS, ID: 'CACHE ID', CreatedSince: 'CREATED', Size: 'SIZE' }),
        );
      }
      return;
    }
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
    ctx.io.stdout.write(renderList(format, rows, HEADERS));
  },
};
export default command;
