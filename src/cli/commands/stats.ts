import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import type { ContainerStatsResponse } from '../../api/container-data-types.ts';
import type { ContainerSummary } from '../../api/container-wire.ts';
import { cpuPercent, memoryUsage } from '../../container/stats.ts';
import { bytesSize, humanSize } from '../../api/units.ts';
import { renderList } from '../format/render.ts';
import { shortId } from '../output.ts';

const HEADERS: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

function row(ref: string, s: ContainerStatsResponse, noTrunc = false) {
  const mem = memoryUsage(s);
  const limit = s.memory_stats.limit ?? 0;
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') write += e.value;
  }
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  const running = s.read !== '0001-01-01T00:00:00Z';
  return {
    Container: ref,
    ID: noTrunc ? s.id : shortId(s.id),
    Name: s.name.replace(/^\//, ''),
    CPUPerc: running ? `${cpuPercent(s).toFixed(2)}%` : '--',
    MemUsage: running ? `${bytesSize(mem)} / ${bytesSize(limit)}` : '-- / --',
    MemPerc: running ? `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%` : '--',
    NetIO: running ? `${humanSize(rx, 3)} / ${humanSize(tx, 3)}` : '--',
    BlockIO: running ? `${humanSize(read, 3)} / ${humanSize(write, 3)}` : '--',
    PIDs: running ? String(s.pids_stats.current ?? 0) : '--',
  };
}

const command: CommandDef = {
  usage: '[OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: 'no-stream', type: 'bool', description: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
  ],
  async run(ctx) {
    const client = await ctx.client();
    let refs = ctx.args;
    if (!refs.length) {
      const list = await client.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: bool(ctx.flags, 'all') ? '1' : undefined } });
      refs = list.map((c) => shortId(c.Id));
    }
    let format = str(ctx.flags, 'format') ?? '';
    if (format === '' || format === 'table') format = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
    const sample = async () => {
      const rows = [];
      const errors: string[] = [];
      for (const ref of refs) {
        try {
          rows.push(row(ref, await client.json<ContainerStatsResponse>('GET', `/containers/${encodeURIComponent(ref)}/stats`, { query: { stream: '0' } }), bool(ctx.flags, 'no-trunc')));
        } catch (err) {
          errors.push(`Error response from daemon: ${(err as Error).message}`);
        }
      }
      return { rows, errors };
    };
    // Containers named on the command line must each give a first sample, or
    // nothing is shown but why (the docker CLI's check, before any header).
    let first: Awaited<ReturnType<typeof sample>> | undefined = await sample();
    if (first.errors.length && ctx.args.length) {
      ctx.io.stderr.write(first.errors.join('\n') + '\n');
      return 1;
    }
    if (bool(ctx.flags, 'no-stream')) {
      ctx.io.stdout.write(renderList(format, first.rows, HEADERS));
      return 0;
    }
    for (;;) {
      const { rows } = first ?? (await sample());
      first = undefined;
      // Clear the screen and redraw, as docker stats does on a terminal.
      ctx.io.stdout.write('\x1b[2J\x1b[H' + renderList(format, rows, HEADERS));
      await new Promise((r) => setTimeout(r, 500));
    }
  },
};
export default command;
