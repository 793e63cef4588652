import type { InfoResponse } from '../../api/types.ts';
import { bytesSize } from '../../api/units.ts';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { renderEach } from '../format/render.ts';

function insecureLines(entries: string[]): string[] {
  return entries.length ? [' Insecure Registries:', ...entries.map((r) => `  ${r}`)] : [];
}

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Display system-wide information',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  maxArgs: 0,
  async run(ctx) {
    const client = await ctx.client();
    const info = await client.json<InfoResponse>('GET', '/info');
    const format = str(ctx.flags, 'format');
    if (format) {
      ctx.io.stdout.write(renderEach(format, [info]));
      return;
    }
    const insecure = Object.values(info.RegistryConfig?.IndexConfigs ?? {}).filter((c) => !c.Secure).map((c) => c.Name);
    const lines = [
      'Server:',
      ` Containers: ${info.Containers}`,
      `  Running: ${info.ContainersRunning}`,
      `  Paused: ${info.ContainersPaused}`,
      `  Stopped: ${info.ContainersStopped}`,
      ` Images: ${info.Images}`,
      ` Server Version: ${info.ServerVersion}`,
      ` Storage Driver: ${info.Driver}`,
      ...(info.DriverStatus ?? []).map(([k, v]) => `  ${k}: ${v}`),
      ` Logging Driver: ${info.LoggingDriver}`,
      ` Cgroup Driver: ${info.CgroupDriver}`,
      ` Cgroup Version: ${info.CgroupVersion}`,
      ` Default Runtime: ${info.DefaultRuntime}`,
      ` Live Restore Enabled: ${info.LiveRestoreEnabled}`,
      ` Kernel Version: ${info.KernelVersion}`,
      ` Operating System: ${info.OperatingSystem}`,
      ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`,
      ` CPUs: ${info.NCPU}`,
      ` Total Memory: ${bytesSize(info.MemTotal)}`,
      ` Name: ${info.Name}`,
      ` ID: ${info.ID}`,
      ` Berth Root Dir: ${info.DockerRootDir}`,
      ` Debug Mode: ${info.Debug}`,
      ...insecureLines([...insecure, ...(info.RegistryConfig?.InsecureRegistryCIDRs ?? [])]),
    ];
    ctx.io.stdout.write(lines.join('\n') + '\n');
    for (const w of info.Warnings ?? []) ctx.io.stderr.write(`WARNING: ${w}\n`);
  },
};
export default command;
