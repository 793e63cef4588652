/**
 * `berth`: the command line of the berth engine — an Engine API client of
 * berthd, with Docker's commands, flags, output formats and exit codes.
 * Subcommand modules load lazily so start-up stays close to `node -e 0`.
 */
import { errorMessage } from '../common/errors.ts';
import type { EngineClient } from '../client/client.ts';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from './args.ts';
import type { CommandContext, CommandDef, Io } from './command.ts';

type Loader = () => Promise<{ default: CommandDef }>;
/** A command: its lazily loaded module; `local` ones never talk to the daemon. */
type Entry = { loader: Loader; summary: string; local?: boolean };

/** Top-level commands, in the order help lists them. */
const COMMANDS: Record<string, Entry> = {
  run: { loader: () => import('./commands/run.ts'), summary: 'Create and run a new container from an image' },
  exec: { loader: () => import('./commands/exec.ts'), summary: 'Execute a command in a running container' },
  ps: { loader: () => import('./commands/ps.ts'), summary: 'List containers' },
  create: { loader: () => import('./commands/create.ts'), summary: 'Create a new container' },
  start: { loader: () => import('./commands/start.ts'), summary: 'Start one or more stopped containers' },
  stop: { loader: () => import('./commands/stop.ts'), summary: 'Stop one or more running containers' },
  restart: { loader: () => import('./commands/restart.ts'), summary: 'Restart one or more containers' },
  kill: { loader: () => import('./commands/kill.ts'), summary: 'Kill one or more running containers' },
  rm: { loader: () => import('./commands/rm.ts'), summary: 'Remove one or more containers' },
  logs: { loader: () => import('./commands/logs.ts'), summary: 'Fetch the logs of a container' },
  attach: { loader: () => import('./commands/attach.ts'), summary: 'Attach local standard input, output, and error streams to a running container' },
  wait: { loader: () => import('./commands/wait.ts'), summary: 'Block until one or more containers stop, then print their exit codes' },
  top: { loader: () => import('./commands/top.ts'), summary: 'Display the running processes of a container' },
  stats: { loader: () => import('./commands/stats.ts'), summary: "Display a live stream of container(s) resource usage statistics" },
  cp: { loader: () => import('./commands/cp.ts'), summary: 'Copy files/folders between a container and the local filesystem' },
  diff: { loader: () => import('./commands/diff.ts'), summary: "Inspect changes to files or directories on a container's filesystem" },
  commit: { loader: () => import('./commands/commit.ts'), summary: "Create a new image from a container's changes" },
  export: { loader: () => import('./commands/export.ts'), summary: "Export a container's filesystem as a tar archive" },
  rename: { loader: () => import('./commands/rename.ts'), summary: 'Rename a container' },
  update: { loader: () => import('./commands/update.ts'), summary: 'Update configuration of one or more containers' },
  pause: { loader: () => import('./commands/pause.ts'), summary: 'Pause all processes within one or more containers' },
  unpause: { loader: () => import('./commands/unpause.ts'), summary: 'Unpause all processes within one or more containers' },
  pull: { loader: () => import('./commands/pull.ts'), summary: 'Download an image from a registry' },
  push: { loader: () => import('./commands/push.ts'), summary: 'Upload an image to a registry' },
  images: { loader: () => import('./commands/images.ts'), summary: 'List images' },
  rmi: { loader: () => import('./commands/rmi.ts'), summary: 'Remove one or more images' },
  tag: { loader: () => import('./commands/tag.ts'), summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE' },
  history: { loader: () => import('./commands/history.ts'), summary: 'Show the history of an image' },
  inspect: { loader: () => import('./commands/inspect.ts'), summary: 'Return low-level information on containers and images' },
  save: { loader: () => import('./commands/save.ts'), summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)' },
  load: { loader: () => import('./commands/load.ts'), summary: 'Load an image from a tar archive or STDIN' },
  import: { loader: () => import('./commands/import.ts'), summary: 'Import the contents from a tarball to create a filesystem image' },
  login: { loader: () => import('./commands/login.ts'), summary: 'Log in to a registry' },
  logout: { loader: () => import('./commands/logout.ts'), summary: 'Log out from a registry', local: true },
  events: { loader: () => import('./commands/events.ts'), summary: 'Get real time events from the server' },
  info: { loader: () => import('./commands/info.ts'), summary: 'Display system-wide information' },
  version: { loader: () => import('./commands/version.ts'), summary: 'Show the berth version information' },
};

/** `berth image <sub>`: Docker's management-command spellings. */
const IMAGE_COMMANDS: Record<string, Entry> = {
  ls: { loader: () => import('./commands/images.ts'), summary: 'List images' },
  list: { loader: () => import('./commands/images.ts'), summary: 'List images' },
  pull: COMMANDS.pull!,
  push: COMMANDS.push!,
  rm: { loader: () => import('./commands/rmi.ts'), summary: 'Remove one or more images' },
  remove: { loader: () => import('./commands/rmi.ts'), summary: 'Remove one or more images' },
  tag: COMMANDS.tag!,
  inspect: { loader: () => import('./commands/image-inspect.ts'), summary: 'Display detailed information on one or more images' },
  history: COMMANDS.history!,
  save: COMMANDS.save!,
  load: COMMANDS.load!,
  import: COMMANDS.import!,
  prune: { loader: () => import('./commands/image-prune.ts'), summary: 'Remove unused images' },
};

const REGISTRY_COMMANDS: Record<string, Entry> = {
  serve: { loader: () => import('./commands/registry-serve.ts'), summary: 'Run an OCI distribution registry', local: true },
};

/** `berth container <sub>`. */
const CONTAINER_COMMANDS: Record<string, Entry> = {
  attach: COMMANDS.attach!,
  commit: COMMANDS.commit!,
  cp: COMMANDS.cp!,
  create: COMMANDS.create!,
  diff: COMMANDS.diff!,
  exec: COMMANDS.exec!,
  export: COMMANDS.export!,
  inspect: { loader: () => import('./commands/container-inspect.ts'), summary: 'Display detailed information on one or more containers' },
  kill: COMMANDS.kill!,
  logs: COMMANDS.logs!,
  ls: { loader: () => import('./commands/ps.ts'), summary: 'List containers' },
  list: { loader: () => import('./commands/ps.ts'), summary: 'List containers' },
  ps: { loader: () => import('./commands/ps.ts'), summary: 'List containers' },
  pause: COMMANDS.pause!,
  prune: { loader: () => import('./commands/container-prune.ts'), summary: 'Remove all stopped containers' },
  rename: COMMANDS.rename!,
  restart: COMMANDS.restart!,
  rm: COMMANDS.rm!,
  remove: COMMANDS.rm!,
  run: COMMANDS.run!,
  start: COMMANDS.start!,
  stats: COMMANDS.stats!,
  stop: COMMANDS.stop!,
  top: COMMANDS.top!,
  unpause: COMMANDS.unpause!,
  update: COMMANDS.update!,
  wait: COMMANDS.wait!,
};

/** `berth system <sub>`. */
const SYSTEM_COMMANDS: Record<string, Entry> = {
  df: { loader: () => import('./commands/system-df.ts'), summary: 'Show berth disk usage' },
  events: COMMANDS.events!,
  info: COMMANDS.info!,
  prune: { loader: () => import('./commands/system-prune.ts'), summary: 'Remove unused data' },
};

/** `berth volume <sub>`. */
const VOLUME_COMMANDS: Record<string, Entry> = {
  create: { loader: () => import('./commands/volume-create.ts'), summary: 'Create a volume' },
  inspect: { loader: () => import('./commands/volume-inspect.ts'), summary: 'Display detailed information on one or more volumes' },
  ls: { loader: () => import('./commands/volume-ls.ts'), summary: 'List volumes' },
  list: { loader: () => import('./commands/volume-ls.ts'), summary: 'List volumes' },
  prune: { loader: () => import('./commands/volume-prune.ts'), summary: 'Remove unused local volumes' },
  rm: { loader: () => import('./commands/volume-rm.ts'), summary: 'Remove one or more volumes' },
  remove: { loader: () => import('./commands/volume-rm.ts'), summary: 'Remove one or more volumes' },
};

/** `berth network <sub>` (none and host only: no user-defined networks yet). */
const NETWORK_COMMANDS: Record<string, Entry> = {
  inspect: { loader: () => import('./commands/network-inspect.ts'), summary: 'Display detailed information on one or more networks' },
  ls: { loader: () => import('./commands/network-ls.ts'), summary: 'List networks' },
  list: { loader: () => import('./commands/network-ls.ts'), summary: 'List networks' },
  prune: { loader: () => import('./commands/network-prune.ts'), summary: 'Remove all unused networks' },
};

const GROUPS: Record<string, { summary: string; commands: Record<string, Entry> }> = {
  container: { summary: 'Manage containers', commands: CONTAINER_COMMANDS },
  system: { summary: 'Manage berth', commands: SYSTEM_COMMANDS },
  image: { summary: 'Manage images', commands: IMAGE_COMMANDS },
  network: { summary: 'Manage networks', commands: NETWORK_COMMANDS },
  volume: { summary: 'Manage volumes', commands: VOLUME_COMMANDS },
  registry: { summary: 'Run a registry', commands: REGISTRY_COMMANDS },
};

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'host', short: 'H', type: 'string', description: 'Daemon socket to connect to (unix:///path.sock; env BERTH_HOST, DOCKER_HOST)', value: 'string' },
  { name: 'help', type: 'bool', description: 'Print usage' },
  { name: 'version', short: 'v', type: 'bool', description: 'Print version information and quit' },
  { name: 'debug', short: 'D', type: 'bool', description: 'Enable debug mode (print error details)' },
  { name: 'log-level', short: 'l', type: 'string', description: 'Set the logging level', hidden: true },
];

function mainHelp(): string {
  const list = (entries: [string, string][]) => {
    const w = Math.max(...entries.map(([n]) => n.length));
    return entries.map(([n, s]) => `  ${n.padEnd(w)}  ${s}`).join('\n');
  };
  return `
Usage:  berth [OPTIONS] COMMAND

A container engine that speaks the Docker Engine API

Commands:
${list(Object.entries(COMMANDS).map(([n, c]) => [n, c.summary]))}

Management Commands:
${list(Object.entries(GROUPS).map(([n, g]) => [n, g.summary]))}

Global Options:
${flagHelp(GLOBAL_FLAGS)}

Run 'berth COMMAND --help' for more information on a command.
`;
}

function groupHelp(group: string): string {
  const g = GROUPS[group]!;
  const entries = Object.entries(g.commands).filter(([n]) => n !== 'list' && n !== 'remove');
  const w = Math.max(...entries.map(([n]) => n.length));
  return `
Usage:  berth ${group} COMMAND

${g.summary}

Commands:
${entries.map(([n, c]) => `  ${n.padEnd(w)}  ${c.summary}`).join('\n')}

Run 'berth ${group} COMMAND --help' for more information on a command.
`;
}

/** Every command's --help (cobra's help flag: before the first positional of commands that stop there). */
const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', description: 'Print usage' };

export function commandHelp(commandPath: string, def: CommandDef): string {
  const flags = [...def.flags, HELP_FLAG];
  return `
Usage:  ${commandPath} ${def.usage}

${def.description}

Options:
${flagHelp(flags)}
`;
}

/**
 * The process's stdio with each stream created on first use: process.stdin
 * costs a stream and a handle, and most commands never read it. `used` lists
 * the output streams a command touched (the ones to flush before exiting).
 */
export function processIo(): { io: Io; used: NodeJS.WriteStream[] } {
  const used: NodeJS.WriteStream[] = [];
  let stdout: NodeJS.WriteStream | undefined;
  let stderr: NodeJS.WriteStream | undefined;
  const take = (stream: NodeJS.WriteStream): NodeJS.WriteStream => {
    stream.on('error', exitOnBrokenPipe);
    used.push(stream);
    return stream;
  };
  const io: Io = {
    get stdout() {
      return (stdout ??= take(process.stdout));
    },
    get stderr() {
      return (stderr ??= take(process.stderr));
    },
    get stdin() {
      return process.stdin;
    },
  };
  return { io, used };
}

/**
 * The reader of our output went away (`berth logs x | head -1`): stop at once
 * and quietly, as the docker CLI does (Go dies of SIGPIPE writing to stdout or
 * stderr: a shell sees 141). Other write errors are not ours to hide.
 */
export function exitOnBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(128 + 13);
  throw err;
}

export async function main(argv: string[], io: Io = processIo().io): Promise<number> {
  // Global flags come before the command name.
  let globals;
  try {
    globals = parseFlags(argv, GLOBAL_FLAGS, 'berth', false);
  } catch (err) {
    io.stderr.write(`${errorMessage(err)}\n`);
    return 125;
  }
  const host = globals.flags.host as string | undefined;
  let [name, ...rest] = globals.args;
  if (globals.flags.version) {
    const { BERTH_VERSION } = await import('../api/build-info.ts');
    io.stdout.write(`berth version ${BERTH_VERSION}\n`);
    return 0;
  }
  if (!name || name === 'help') {
    if (name === 'help' && rest[0]) return main([...rest, '--help'], io);
    io.stdout.write(mainHelp());
    return name || globals.flags.help ? 0 : 0;
  }
  let entry = COMMANDS[name];
  let commandPath = `berth ${name}`;
  const group = GROUPS[name];
  if (group) {
    const sub = rest[0];
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(groupHelp(name));
      return 0;
    }
    entry = group.commands[sub];
    if (!entry) {
      io.stderr.write(`berth: '${name} ${sub}' is not a berth command.\nSee 'berth ${name} --help'\n`);
      return 1;
    }
    commandPath = `berth ${name} ${sub}`;
    rest = rest.slice(1);
  }
  if (!entry) {
    io.stderr.write(`berth: '${name}' is not a berth command.\nSee 'berth --help'\n`);
    return 1;
  }
  // The daemon's ping (API version negotiation) goes out now and is answered
  // while the command's code loads; ctx.client() then costs no round trip.
  // It never autostarts berthd: that waits until the command asks for it.
  let reached: Promise<EngineClient> | undefined;
  if (!entry.local && !rest.includes('--help')) {
    const { reach, resolveTarget } = await import('../client/connect.ts');
    try {
      reached = reach(resolveTarget(host));
    } catch (err) {
      reached = Promise.reject(err);
    }
    reached.catch(() => {});
    // One turn of the event loop: the connection completes and the ping is
    // written now, not after the command's modules are compiled.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const def = (await entry.loader()).default;
  let parsed;
  try {
    if (def.rawArgs) parsed = { flags: {}, args: rest };
    else {
      // --help is a flag like the others: `run --help` asks for run's usage,
      // `run busybox --help` passes it to the container (noInterspersed).
      parsed = parseFlags(rest, [...def.flags, HELP_FLAG], commandPath, !def.noInterspersed);
      if (parsed.flags.help === true) {
        io.stdout.write(commandHelp(commandPath, def));
        return 0;
      }
      delete parsed.flags.help;
    }
  } catch (err) {
    io.stderr.write(`${errorMessage(err)}\n`);
    return 125;
  }
  const n = parsed.args.length;
  if ((def.minArgs !== undefined && n < def.minArgs) || (def.maxArgs !== undefined && n > def.maxArgs)) {
    const need =
      def.minArgs === def.maxArgs
        ? `exactly ${def.minArgs} argument${def.minArgs === 1 ? '' : 's'}`
        : def.maxArgs === undefined
          ? `at least ${def.minArgs} argument${def.minArgs === 1 ? '' : 's'}`
          : def.minArgs
            ? `at least ${def.minArgs} and at most ${def.maxArgs} arguments`
            : `at most ${def.maxArgs} argument${def.maxArgs === 1 ? '' : 's'}`;
    io.stderr.write(`"${commandPath}" requires ${need}.\nSee '${commandPath} --help'.\n\nUsage:  ${commandPath} ${def.usage}\n\n${def.description}\n`);
    return 1;
  }
  let client: EngineClient | undefined;
  const ctx: CommandContext = {
    commandPath,
    flags: parsed.flags,
    args: parsed.args,
    io,
    env: process.env,
    host,
    async client() {
      if (client) return client;
      const { connect, resolveTarget } = await import('../client/connect.ts');
      client = await connect(resolveTarget(host), process.env, reached);
      return client;
    },
  };
  try {
    const code = await def.run(ctx);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    // -D: the whole error with its cause chain, for bug reports.
    if (globals.flags.debug) io.stderr.write(`${(err as Error)?.stack ?? String(err)}\n${(err as Error)?.cause ? `caused by: ${String((err as { cause: unknown }).cause)}\n` : ''}`);
    return reportError(err, io.stderr);
  }
}

/** Docker's way of showing failures: daemon errors prefixed, usage errors 125, others 1. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream): number {
  const e = err as { name?: string; status?: number; code?: string };
  if (e instanceof UsageError) {
    stderr.write(`${errorMessage(err)}\n`);
    return 125;
  }
  if (e?.name === 'ApiError') {
    stderr.write(`Error response from daemon: ${errorMessage(err)}\n`);
    return 1;
  }
  stderr.write(`${e?.code === 'BERTH_CLI_TEMPLATE' ? 'template parsing error: ' : ''}${errorMessage(err)}\n`);
  return 1;
}

// Run when executed (bundle or source), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (process.env.BERTH_BUNDLED === '1' || /src\/cli\/main\.ts$/.test(invoked)) {
  const { io, used } = processIo();
  main(process.argv.slice(2), io).then(
    (code) => {
      // Exit once what was written to stdout/stderr is flushed (pipes are
      // asynchronous), without waiting for idle sockets or timers.
      const flush = (i: number): void => {
        if (i === used.length) process.exit(code);
        else
          used[i]!.write('', (err?: NodeJS.ErrnoException | null) => {
            if (err?.code === 'EPIPE') exitOnBrokenPipe(err);
            flush(i + 1);
          });
      };
      flush(0);
    },
    (err) => {
      process.stderr.write(`berth: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
