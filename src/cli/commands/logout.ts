import type { CommandDef } from '../command.ts';
import { eraseCredentials } from '../../distribution/credentials.ts';
import { authKeyFor } from '../../distribution/hosts.ts';
import { registryDomain } from './login.ts';

const command: CommandDef = {
  usage: '[SERVER]',
  description: 'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.',
  flags: [],
  maxArgs: 1,
  async run(ctx) {
    const domain = registryDomain(ctx.args[0]);
    const key = authKeyFor(domain);
    const removed = await eraseCredentials(key);
    if (!removed) ctx.io.stdout.write(`Not logged in to ${ctx.args[0] ?? key}\n`);
    else ctx.io.stdout.write(`Removing login credentials for ${ctx.args[0] ?? key}\n`);
  },
};
export default command;
