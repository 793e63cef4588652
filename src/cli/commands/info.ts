import type { InfoResponse } from '../../api/types.ts';
import { bytesSize } from '../../api/units.ts';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { renderEach } from '../format/render.ts';

function insecureLines(entries: string[]): string[] {
  return entries.length ? [' Insecure Registries:', ...entries.map((r) => `  ${r}`)] : [];
}

function pluginLines(p: InfoResponse['Plugins'] | undefined): string[] {
  if (!p) return [];
  return [
    ' Plugins:',
    `  Volume: ${(p.Volume ?? []).join(' ')}`,
    `  Network: ${(p.Network ?? []).join(' ')}`,
    ...(p.Authorization?.length ? [`  Authorization: ${p.Authorization.join(' ')}`] : []),
    `  Log: ${(p.Log ?? []).join(' ')}`,
  ];
}

/** "name=seccomp,profile=builtin" → the docker CLI's "  seccomp" / "   Profile: builtin". */
function securityLines(options: string[]): string[] {
  if (!options.length) return [];
  const out = [' Security Options:'];
  for (const o of options) {
    const kv = Object.fromEntries(o.split(',').map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
    out.push(`  ${kv.name ?? o}`);
    if (kv.profile) out.push(`   Profile: ${kv.profile}`);
  }
  return out;
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
      ...pluginLines(info.Plugins),
      ...(Object.keys(info.Runtimes ?? {}).length ? [` Runtimes: ${Object.keys(info.Runtimes).sort().join(' ')}`, ` Default Runtime: ${info.DefaultRuntime}`] : []),
      ` Init Binary: ${info.InitBinary ?? ''}`,
      ` containerd version: ${info.ContainerdCommit?.ID ?? ''}`,
      ` runc version: ${info.RuncCommit?.ID ?? ''}`,
      ` init version: ${info.InitCommit?.ID ?? ''}`,
      ...securityLines(info.SecurityOptions ?? []),
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
      ` Experimental: ${info.ExperimentalBuild}`,
      ...insecureLines([...insecure, ...(info.RegistryConfig?.InsecureRegistryCIDRs ?? [])]),
      ` Live Restore Enabled: ${info.LiveRestoreEnabled}`,
    ];
    ctx.io.stdout.write(lines.join('\n') + '\n');
    // Warnings come whole from the daemon ("WARNING: …"), printed as the docker CLI prints them.
    if (info.Warnings?.length) ctx.io.stderr.write(info.Warnings.join('\n') + '\n');
  },
};
export default command;
