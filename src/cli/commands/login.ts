import type { AuthResponse } from '../../api/types.ts';
import type { CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { storeCredentials } from '../../distribution/credentials.ts';
import { authKeyFor, DOCKER_HUB_DOMAIN } from '../../distribution/hosts.ts';
import { readAllStdin, readLine } from '../prompt.ts';

/** "https://host:5000/" or "host:5000" → "host:5000"; no server → Docker Hub. */
export function registryDomain(server: string | undefined): string {
  if (!server) return DOCKER_HUB_DOMAIN;
  let s = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io') s = DOCKER_HUB_DOMAIN;
  return s;
}

const command: CommandDef = {
  usage: '[OPTIONS] [SERVER]',
  description: 'Log in to a registry.\nIf no server is specified, the default is defined by the daemon.',
  flags: [
    { name: 'password', short: 'p', type: 'string', description: 'Password or Personal Access Token (PAT)' },
    { name: 'password-stdin', type: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
    { name: 'username', short: 'u', type: 'string', description: 'Username' },
  ],
  maxArgs: 1,
  async run(ctx) {
    const domain = registryDomain(ctx.args[0]);
    let username = str(ctx.flags, 'username');
    let password = str(ctx.flags, 'password');
    if (bool(ctx.flags, 'password-stdin')) {
      if (password) throw new Error('--password and --password-stdin are mutually exclusive');
      if (!username) throw new Error('Must provide --username with --password-stdin');
      password = (await readAllStdin(ctx.io.stdin)).replace(/\r?\n$/, '');
    } else if (password) {
      ctx.io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    if (!username) {
      if (!ctx.io.stdin.isTTY) throw new Error('Error: Cannot perform an interactive login from a non TTY device');
      username = (await readLine(ctx.io.stdin, ctx.io.stdout, 'Username: ')).trim();
    }
    if (!username) throw new Error('Error: Non-null Username Required');
    if (!password) {
      if (!ctx.io.stdin.isTTY) throw new Error('Error: Cannot perform an interactive login from a non TTY device');
      password = await readLine(ctx.io.stdin, ctx.io.stdout, 'Password: ', true);
    }
    if (!password) throw new Error('Error: Password Required');
    const client = await ctx.client();
    const answer = await client.json<AuthResponse>('POST', '/auth', { body: { username, password, serveraddress: domain } });
    await storeCredentials(
      authKeyFor(domain),
      answer.IdentityToken ? { username, identityToken: answer.IdentityToken } : { username, password },
    );
    ctx.io.stdout.write(`${answer.Status || 'Login Succeeded'}\n`);
  },
};
export default command;
