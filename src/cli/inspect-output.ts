/**
 * What every `inspect` command prints, as the docker CLI does: the objects
 * found as an indented JSON array (HTML-escaped like Go's encoder), or each
 * through --format; then one line per name not found, and exit 1 if any.
 */
import type { CommandContext } from './command.ts';
import type { FlagSpec } from './args.ts';
import { str } from './command.ts';
import { errorMessage } from '../common/errors.ts';
import { renderEach } from './format/render.ts';

export const FORMAT_FLAG: FlagSpec = { name: 'format', short: 'f', type: 'string', description: "Format output using a custom template:\n'json' or a Go template" };

export function writeInspected(ctx: CommandContext, found: unknown[], errors: string[]): number | undefined {
  const format = str(ctx.flags, 'format');
  if (format && format !== 'json') ctx.io.stdout.write(renderEach(format, found));
  else ctx.io.stdout.write(JSON.stringify(found, null, 4).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) + '\n');
  if (errors.length === 0) return undefined;
  ctx.io.stderr.write(errors.join('\n') + '\n');
  return 1;
}

/**
 * GET each name's object at `path(name)`: a 404 becomes an error line
 * (`notFound`, or the daemon's message), anything else is thrown.
 */
export async function inspectEach(ctx: CommandContext, path: (name: string) => string, notFound?: (name: string) => string): Promise<number | undefined> {
  const client = await ctx.client();
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of ctx.args) {
    try {
      found.push(await client.json<unknown>('GET', path(name)));
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
      errors.push(notFound ? notFound(name) : `Error response from daemon: ${errorMessage(err)}`);
    }
  }
  return writeInspected(ctx, found, errors);
}
