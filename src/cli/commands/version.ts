import { arch } from 'node:os';
import { API_VERSION } from '../../common/config.ts';
import { BERTH_VERSION, GIT_COMMIT } from '../../api/build-info.ts';
import type { VersionResponse } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { str } from '../command.ts';
import { goArch } from '../../common/go-arch.ts';
import { formatGoDate } from '../output.ts';

const command: CommandDef = {
  usage: '[OPTIONS]',
  description: 'Show the berth version information',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  maxArgs: 0,
  async run(ctx) {
    const clientInfo = {
      Platform: { Name: 'berth' },
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      DefaultAPIVersion: API_VERSION,
      GitCommit: GIT_COMMIT,
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: goArch(arch()),
      BuildTime: '',
      Context: 'default',
    };
    let server: VersionResponse | undefined;
    let serverError: unknown;
    try {
      const client = await ctx.client();
      clientInfo.ApiVersion = await client.apiVersion();
      server = await client.json<VersionResponse>('GET', '/version');
    } catch (err) {
      serverError = err;
    }
    const format = str(ctx.flags, 'format');
    if (format) {
      // The template engine only when a template is given: the plain output is built here.
      const { renderEach } = await import('../format/render.ts');
      ctx.io.stdout.write(renderEach(format, [{ Client: clientInfo, Server: server ?? null }]));
    } else {
      const downgraded = clientInfo.ApiVersion !== API_VERSION ? ` (downgraded from ${API_VERSION})` : '';
      const lines = [
        'Client:',
        ` Version:           ${clientInfo.Version}`,
        ` API version:       ${clientInfo.ApiVersion}${downgraded}`,
        ` Node version:      ${process.version}`,
        ` Git commit:        ${clientInfo.GitCommit}`,
        ` OS/Arch:           ${clientInfo.Os}/${clientInfo.Arch}`,
        ` Context:           default`,
      ];
      if (server) {
        lines.push('', `Server: ${server.Platform?.Name ?? ''}`.trimEnd());
        for (const c of server.Components ?? []) {
          lines.push(` ${c.Name}:`);
          if (c.Name === 'Engine') {
            const d = c.Details ?? {};
            lines.push(
              `  Version:          ${c.Version}`,
              `  API version:      ${d.ApiVersion} (minimum version ${d.MinAPIVersion})`,
              `  Go version:       ${d.GoVersion}`,
              `  Git commit:       ${d.GitCommit}`,
              `  Built:            ${d.BuildTime ? formatGoDate(new Date(d.BuildTime)) : ''}`,
              `  OS/Arch:          ${d.Os}/${d.Arch}`,
              `  Experimental:     ${d.Experimental}`,
            );
          } else {
            lines.push(`  Version:          ${c.Version}`);
            for (const [k, v] of Object.entries(c.Details ?? {})) lines.push(`  ${(k + ':').padEnd(18)}${v}`);
          }
        }
      }
      ctx.io.stdout.write(lines.join('\n') + '\n');
    }
    if (serverError) throw serverError;
  },
};
export default command;
