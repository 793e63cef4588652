import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { forEachContainer } from './container-each.ts';
import { ramInBytes } from './container-options.ts';
import { UsageError } from '../args.ts';

const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  flags: [
    { name: 'cpu-shares', short: 'c', type: 'string', description: 'CPU shares (relative weight)', value: 'int' },
    { name: 'cpus', type: 'string', description: 'Number of CPUs', value: 'decimal' },
    { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'memory', short: 'm', type: 'string', description: 'Memory limit', value: 'bytes' },
    { name: 'memory-swap', type: 'string', description: 'Swap limit equal to memory plus swap: -1 to enable unlimited swap', value: 'bytes' },
    { name: 'pids-limit', type: 'string', description: 'Tune container pids limit (set -1 for unlimited)', value: 'int' },
    { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits' },
  ],
  minArgs: 1,
  async run(ctx) {
    const body: Record<string, unknown> = {};
    const mem = str(ctx.flags, 'memory');
    if (mem) body.Memory = ramInBytes(mem, 'memory');
    const swap = str(ctx.flags, 'memory-swap');
    if (swap) body.MemorySwap = swap === '-1' ? -1 : ramInBytes(swap, 'memory-swap');
    const cpus = str(ctx.flags, 'cpus');
    if (cpus) {
      if (!/^\d+(\.\d+)?$/.test(cpus)) throw new UsageError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
      body.NanoCpus = Math.round(Number(cpus) * 1e9);
    }
    const shares = str(ctx.flags, 'cpu-shares');
    if (shares) body.CpuShares = Number(shares);
    const cpuset = str(ctx.flags, 'cpuset-cpus');
    if (cpuset) body.CpusetCpus = cpuset;
    const pids = str(ctx.flags, 'pids-limit');
    if (pids) body.PidsLimit = Number(pids);
    const restart = str(ctx.flags, 'restart');
    if (restart) {
      const [name, n] = restart.split(':');
      body.RestartPolicy = { Name: name, MaximumRetryCount: n ? Number(n) : 0 };
    }
    if (!Object.keys(body).length) throw new UsageError('you must provide one or more flags when using this command');
    const client = await ctx.client();
    return forEachContainer(ctx, async (ref) => {
      const r = await client.json<{ Warnings: string[] | null }>('POST', `/containers/${encodeURIComponent(ref)}/update`, { body });
      for (const w of r?.Warnings ?? []) ctx.io.stderr.write(`WARNING: ${w}\n`);
    });
  },
};
export default command;
