/**
 * Docker's pattern for commands over several containers (stop, kill, rm,
 * pause, …): act on each in turn, print the name as given on success, print
 * "Error response from daemon: …" for each failure, exit 1 if any failed
 * (with notFoundIsFine, as `rm -f`: a missing container is printed but no failure).
 */
import type { CommandContext } from '../command.ts';
import { ApiError } from '../../client/client.ts';

export async function forEachContainer(ctx: CommandContext, act: (ref: string) => Promise<void>, echo = true, opts: { notFoundIsFine?: boolean } = {}): Promise<number> {
  let failed = false;
  for (const ref of ctx.args) {
    try {
      await act(ref);
      if (echo) ctx.io.stdout.write(ref + '\n');
    } catch (err) {
      // rm -f: a container that is not there is said, not a failure (docker CLI 28).
      if (!(opts.notFoundIsFine && err instanceof ApiError && err.status === 404)) failed = true;
      ctx.io.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** A POST whose answer must be 2xx (204/304 alike), body discarded. */
export async function post(ctx: CommandContext, path: string, query: Record<string, string | number | undefined> = {}): Promise<void> {
  const client = await ctx.client();
  const res = await client.stream('POST', path, { query });
  res.resume();
}
