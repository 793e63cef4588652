import type { ImageSummary } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { bool, filtersJson, list, str } from '../command.ts';
import { familiarName, parseReference } from '../../image/reference.ts';
import { renderList } from '../format/render.ts';
import { formatCreatedAt, shortId, since, tableSize } from '../output.ts';

/** One row of `images`: the fields --format templates use, as Docker names them. */
export interface ImageRow {
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  UniqueSize: string;
  Containers: string;
}

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  Containers: 'CONTAINERS',
};

/** Docker's expansion of summaries into rows: one per tag (per digest with --digests), <none> for untagged. */
export function imageRows(images: ImageSummary[], opts: { digests: boolean; noTrunc: boolean; now?: number }): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const img of images) {
    const base = {
      ID: opts.noTrunc ? img.Id : shortId(img.Id),
      CreatedSince: since(img.Created, opts.now),
      CreatedAt: formatCreatedAt(img.Created),
      Size: tableSize(img.Size),
      VirtualSize: tableSize(img.VirtualSize ?? img.Size),
      SharedSize: img.SharedSize < 0 ? 'N/A' : tableSize(img.SharedSize),
      UniqueSize: img.SharedSize < 0 ? 'N/A' : tableSize(img.Size - img.SharedSize),
      Containers: img.Containers < 0 ? 'N/A' : String(img.Containers),
    };
    const tagsByRepo = new Map<string, string[]>();
    const digestsByRepo = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      if (t === '<none>:<none>') continue;
      try {
        const ref = parseReference(t);
        if (ref.tag) tagsByRepo.set(familiarName(ref), [...(tagsByRepo.get(familiarName(ref)) ?? []), ref.tag]);
      } catch {
        /* unparseable tags are skipped, as docker does */
      }
    }
    for (const d of img.RepoDigests ?? []) {
      if (d === '<none>@<none>') continue;
      try {
        const ref = parseReference(d);
        if (ref.digest) digestsByRepo.set(familiarName(ref), [...(digestsByRepo.get(familiarName(ref)) ?? []), ref.digest]);
      } catch {
        /* skipped */
      }
    }
    const before = rows.length;
    for (const repo of [...tagsByRepo.keys()].sort()) {
      const digests = opts.digests ? (digestsByRepo.get(repo) ?? []) : [];
      digestsByRepo.delete(repo);
      for (const tag of tagsByRepo.get(repo)!) {
        if (!digests.length) rows.push({ ...base, Repository: repo, Tag: tag, Digest: '<none>' });
        else for (const d of digests) rows.push({ ...base, Repository: repo, Tag: tag, Digest: d });
      }
    }
    for (const repo of [...digestsByRepo.keys()].sort()) {
      if (opts.digests) for (const d of digestsByRepo.get(repo)!) rows.push({ ...base, Repository: repo, Tag: '<none>', Digest: d });
      else rows.push({ ...base, Repository: repo, Tag: '<none>', Digest: '<none>' });
    }
    if (rows.length === before) rows.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
  }
  return rows;
}

const command: CommandDef = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
    { name: 'digests', type: 'bool', description: 'Show digests' },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided', value: 'filter' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  maxArgs: 1,
  async run(ctx) {
    const filters = list(ctx.flags, 'filter');
    if (ctx.args[0]) filters.push(`reference=${ctx.args[0]}`);
    const client = await ctx.client();
    const images = await client.json<ImageSummary[]>('GET', '/images/json', {
      query: { all: bool(ctx.flags, 'all') ? '1' : undefined, filters: filtersJson(filters) },
    });
    const digests = bool(ctx.flags, 'digests');
    const noTrunc = bool(ctx.flags, 'no-trunc');
    let format = str(ctx.flags, 'format') ?? '';
    if (bool(ctx.flags, 'quiet')) format = '{{.ID}}';
    else if (format === '' || format === 'table') {
      format = digests
        ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
        : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    }
    const rows = imageRows(images, { digests: digests || /\.Digest\b/.test(format), noTrunc });
    ctx.io.stdout.write(renderList(format, rows, IMAGE_HEADERS));
  },
};
export default command;
