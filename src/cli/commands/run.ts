/**
 * `berth run` (and the shared create step of `berth create`): create —
 * pulling the image first when it is missing, as docker does — then attach
 * before start, wait (registered before start), start, stream, and exit
 * with the container's code. Docker's exit codes: 125 when the engine
 * refuses, 126 when the command cannot be invoked, 127 when it is not found.
 */
import type { CommandContext, CommandDef } from '../command.ts';
import { bool, str } from '../command.ts';
import { ApiError, readAll, type EngineClient } from '../../client/client.ts';
import { CREATE_FLAGS, createRequest, needsMoreOptions } from './container-options.ts';
import { followWindowSize, proxySignals, pumpStreams, rawTerminal } from './container-stdio.ts';

/** A failure that ends `run` with a given exit code and a docker-style message. */
export class RunError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

// Pulling is the rare path: its code (references, credentials, progress
// display) loads only when an image must be pulled, not on every run.
async function pullImage(ctx: CommandContext, client: EngineClient, image: string, quiet: boolean, platform: string | undefined): Promise<void> {
  const [{ parseReference, referenceName, withDefaultTag }, { displayStream }, { registryAuthHeader }] = await Promise.all([
    import('../../image/reference.ts'),
    import('../progress-display.ts'),
    import('../registry-auth.ts'),
  ]);
  const ref = parseReference(image);
  const full = ref.digest ? ref : withDefaultTag(ref);
  const messages = client.messages('POST', '/images/create', {
    query: { fromImage: referenceName(full), tag: full.digest ?? full.tag, platform },
    headers: { 'X-Registry-Auth': await registryAuthHeader(full.domain) },
  });
  // Progress goes to stderr: stdout belongs to the container.
  await displayStream(messages, ctx.io.stderr, quiet);
}

/** POST /containers/create, pulling once on "No such image" (policy --pull). */
export async function createContainer(
  ctx: CommandContext,
  client: EngineClient,
  detach: boolean,
  forRun = false,
): Promise<{ id: string; body: ReturnType<typeof createRequest>['body'] }> {
  // The rarer flags' parsers load only when one of them is used.
  const more = needsMoreOptions(ctx.flags) ? await import('./container-options-more.ts') : undefined;
  const { body, name, image } = createRequest(ctx.flags, ctx.args, ctx.env, { detach }, more);
  // --cidfile: refused if it exists, created before the image is even looked at (as docker).
  const cidFile = body.HostConfig?.ContainerIDFile ? new more!.CidFile(body.HostConfig.ContainerIDFile) : undefined;
  try {
    const created = await createWithPull(ctx, client, body, name, image, detach, forRun);
    cidFile?.write(created.Id);
    for (const w of created.Warnings ?? []) ctx.io.stderr.write(`WARNING: ${w}\n`);
    return { id: created.Id, body };
  } finally {
    cidFile?.close();
  }
}

async function createWithPull(
  ctx: CommandContext,
  client: EngineClient,
  body: ReturnType<typeof createRequest>['body'],
  name: string | undefined,
  image: string,
  detach: boolean,
  forRun: boolean,
): Promise<{ Id: string; Warnings: string[] | null }> {
  const pull = str(ctx.flags, 'pull') ?? 'missing';
  if (!['missing', 'always', 'never'].includes(pull)) throw new RunError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, 125);
  const quiet = bool(ctx.flags, 'quiet');
  const platform = str(ctx.flags, 'platform');
  const create = () => {
    const created = client.json<{ Id: string; Warnings: string[] | null }>('POST', '/containers/create', { query: { name, platform }, body });
    // run: while berthd creates the container, connect for the requests that
    // follow at once, attach and wait (start reuses this request's connection).
    // (After this turn of the event loop: the create request goes out first.)
    if (forRun && !detach) setImmediate(() => client.preconnect(body.AttachStdin || body.AttachStdout || body.AttachStderr ? 2 : 1));
    return created;
  };
  if (pull === 'always') await pullImage(ctx, client, image, quiet, platform);
  let created;
  try {
    created = await create();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404 || !/No such image/i.test(err.message) || pull === 'never') throw err;
    let shown = image;
    try {
      const { familiarString, parseReference, withDefaultTag } = await import('../../image/reference.ts');
      shown = familiarString(withDefaultTag(parseReference(image)));
    } catch {
      /* shown as typed */
    }
    ctx.io.stderr.write(`Unable to find image '${shown}' locally\n`);
    await pullImage(ctx, client, image, quiet, platform);
    created = await create();
  }
  return created;
}

/** The exit code docker gives for a start the engine refused. */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory|not found/i.test(message)) return 127;
  if (/permission denied|cannot execute|not executable|exec format error/i.test(message)) return 126;
  return 125;
}

export const RUN_FLAGS = [
  { name: 'detach', short: 'd', type: 'bool' as const, description: 'Run container in background and print container ID' },
  { name: 'detach-keys', type: 'string' as const, description: 'Override the key sequence for detaching a container' },
  { name: 'sig-proxy', type: 'bool' as const, description: 'Proxy received signals to the process', default: 'true' },
  ...CREATE_FLAGS,
  // Code-unit order (the names are lower-case ASCII): localeCompare would
  // load ICU's collator, ~5 ms of every run's start-up.
].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  flags: RUN_FLAGS,
  minArgs: 1,
  noInterspersed: true,
  async run(ctx) {
    const detach = bool(ctx.flags, 'detach');
    const client = await ctx.client();
    let id: string;
    let body;
    try {
      ({ id, body } = await createContainer(ctx, client, detach, true));
    } catch (err) {
      if (err instanceof RunError) {
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        return err.exitCode;
      }
      const msg = err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message;
      ctx.io.stderr.write(`berth: ${msg}\n\nRun 'berth run --help' for more information\n`);
      return 125;
    }
    const tty = !!body.Tty;
    const attached = !!(body.AttachStdin || body.AttachStdout || body.AttachStderr);
    const autoRemove = !!body.HostConfig?.AutoRemove;

    // Attach and wait go out together (both must be in place before start;
    // neither needs the other's answer), as the docker CLI sends them.
    const attachConn = attached
      ? client.hijack('POST', `/containers/${id}/attach`, {
          query: { stream: 1, stdin: body.AttachStdin ? 1 : undefined, stdout: body.AttachStdout ? 1 : undefined, stderr: body.AttachStderr ? 1 : undefined, detachKeys: str(ctx.flags, 'detach-keys') },
        })
      : undefined;
    // Registered before start, so a container that exits at once is not missed.
    const waitStream = detach ? undefined : client.stream('POST', `/containers/${id}/wait`, { query: { condition: autoRemove ? 'removed' : 'next-exit' } });
    attachConn?.catch(() => {});
    waitStream?.catch(() => {});

    let streams: Promise<{ detached: boolean }> | undefined;
    let restoreTerm = () => {};
    if (attachConn) {
      const conn = await attachConn;
      restoreTerm = rawTerminal(ctx.io, tty && !!body.AttachStdin);
      streams = pumpStreams(conn, ctx.io, {
        tty,
        stdin: !!body.AttachStdin,
        stdout: !!body.AttachStdout,
        stderr: !!body.AttachStderr,
        ...(str(ctx.flags, 'detach-keys') ? { detachKeys: str(ctx.flags, 'detach-keys')! } : {}),
      });
    }
    const waitRes = await waitStream;
    const statusCode = waitRes
      ? (async () => {
          const text = (await readAll(waitRes)).toString().trim();
          return text ? (JSON.parse(text) as { StatusCode: number }).StatusCode : 125;
        })()
      : undefined;
    statusCode?.catch(() => {});
    // Forwarding starts before the start request: a signal right after the
    // container starts must not be lost (docker does the same).
    const stopSignals = !detach && !tty && ctx.flags['sig-proxy'] !== false ? proxySignals(client, id) : () => {};
    try {
      const res = await client.raw('POST', `/containers/${id}/start`);
      if (res.statusCode >= 400) {
        const text = await new Promise<string>((resolve) => {
          let t = '';
          res.on('data', (c: Buffer) => (t += c));
          res.on('end', () => resolve(t));
        });
        let message = text.trim();
        try {
          message = (JSON.parse(text) as { message: string }).message;
        } catch {
          /* plain text */
        }
        throw new ApiError(res.statusCode, message);
      }
      res.resume();
    } catch (err) {
      restoreTerm();
      stopSignals();
      const message = (err as Error).message;
      ctx.io.stderr.write(`berth: Error response from daemon: ${message}\n`);
      if (autoRemove) await client.raw('DELETE', `/containers/${id}`, { query: { force: 1 } }).then((r) => r.resume()).catch(() => {});
      return startFailureCode(message);
    }
    if (detach) {
      ctx.io.stdout.write(id + '\n');
      return 0;
    }
    const stopResize = followWindowSize(client, `/containers/${id}/resize`, ctx.io, tty);
    try {
      if (streams) {
        const r = await streams;
        if (r.detached) return 0;
      }
      return await statusCode!;
    } finally {
      stopResize();
      stopSignals();
      restoreTerm();
    }
  },
};
export default command;
