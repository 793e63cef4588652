/**
 * berth-runtime: a runc-compatible OCI runtime command line over
 * src/runtime/container.ts, usable as dockerd --add-runtime, podman --runtime
 * and containerd's runc shim binary.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { LinuxResources, Process } from '../../oci/runtime-spec.ts';
import { errorMessage } from '../../common/errors.ts';
import {
  containerPids, containerStateWithPause, createContainer, pauseContainer, resumeContainer, updateContainer, deleteContainer, execInContainer, killContainer,
  listContainers, runContainer, startContainer,
} from '../container.ts';
import { defaultSpec } from '../default-spec.ts';
import { runtimeFeatures } from '../features.ts';
import { parseSignal } from '../signals.ts';
import { DEFAULT_RUNTIME_ROOT, loadState } from '../state.ts';
import { bool, flag, flagAll, parseFlags, usage } from './args.ts';
import type { FlagSpec, Parsed } from './args.ts';

const GLOBAL: FlagSpec = {
  root: { value: true },
  log: { value: true },
  'log-format': { value: true },
  'log-level': { value: true },
  debug: { value: false },
  'systemd-cgroup': { value: false },
  rootless: { value: true },
  criu: { value: true },
  help: { value: false, short: 'h' },
  version: { value: false, short: 'v' },
};

const HELP: FlagSpec = { help: { value: false, short: 'h' } };

const USAGE: Record<string, string> = {
  create: 'create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--no-pivot] [--preserve-fds N] ID',
  run: 'run [--bundle DIR] [-d] [--console-socket PATH] [--pid-file FILE] [--no-pivot] [--preserve-fds N] [--keep] ID',
  start: 'start ID',
  state: 'state ID',
  kill: 'kill [--all] ID [SIGNAL]',
  delete: 'delete [--force] ID',
  list: 'list [--format table|json] [--quiet]',
  ps: 'ps [--format table|json] ID [PS-OPTIONS...]',
  exec: 'exec [--process FILE | -e K=V --cwd DIR -u UID[:GID] -t ...] [-d] [--console-socket PATH] [--pid-file FILE] ID [COMMAND [ARG...]]',
  spec: 'spec [--bundle DIR] [--rootless]',
  pause: 'pause ID',
  resume: 'resume ID',
  update: 'update [--resources FILE|-] [--memory N] [--pids-limit N] [--cpu-quota N] [--cpu-period N] [--cpu-shares N] ID',
  features: 'features',
};

const GLOBAL_USAGE =
  'usage: berth-runtime [--root DIR] [--log FILE] [--log-format json] COMMAND ...\n' +
  'commands: create start state kill delete run exec ps list pause resume update spec features\n' +
  '`berth-runtime COMMAND --help` shows the command\'s flags.\n';

/** Exit status of a failed command: 1, but 255 for exec (as runc, so callers tell it from the process's own status). */
let failureCode = 1;

const CREATE: FlagSpec = {
  ...HELP,
  bundle: { value: true, short: 'b' },
  'pid-file': { value: true },
  'console-socket': { value: true },
  'no-pivot': { value: false },
  'no-new-keyring': { value: false },
  'preserve-fds': { value: true },
  detach: { value: false, short: 'd' },
  keep: { value: false },
  'no-subreaper': { value: false },
};

const EXEC: FlagSpec = {
  ...HELP,
  process: { value: true, short: 'p' },
  tty: { value: false, short: 't' },
  env: { value: true, short: 'e', multi: true },
  cwd: { value: true },
  user: { value: true, short: 'u' },
  'additional-gids': { value: true, short: 'g', multi: true },
  cap: { value: true, short: 'c', multi: true },
  'no-new-privs': { value: false },
  detach: { value: false, short: 'd' },
  'pid-file': { value: true },
  'console-socket': { value: true },
  'preserve-fds': { value: true },
  'process-label': { value: true },
  apparmor: { value: true },
  'ignore-paused': { value: false },
  cgroup: { value: true },
};

let logFile: string | undefined;
let logJson = false;

function log(level: 'error' | 'warning' | 'info', msg: string): void {
  if (!logFile) return;
  const time = new Date().toISOString();
  const line = logJson ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
  try {
    appendFileSync(logFile, line + '\n');
  } catch {
    /* the log is best effort */
  }
}

const one = (p: Parsed, what: string): string => {
  const id = p.positionals[0];
  if (!id) throw usage(`${what}: container id required`);
  return id;
};

async function main(argv: string[]): Promise<number> {
  const g = parseFlags(argv, GLOBAL, { stopAtPositional: true });
  const root = flag(g, 'root') ?? DEFAULT_RUNTIME_ROOT;
  logFile = flag(g, 'log');
  logJson = flag(g, 'log-format') === 'json';
  if (bool(g, 'version')) {
    process.stdout.write('berth-runtime version 0.1.0\nspec: 1.2.0\n');
    return 0;
  }
  const [command, ...rest] = g.rest;
  if (!command || bool(g, 'help')) {
    // As runc: help (or no command at all) is not a failure.
    process.stdout.write(GLOBAL_USAGE);
    return 0;
  }
  if (command === 'exec') failureCode = 255;
  if (USAGE[command] && wantsHelp(command, rest)) {
    process.stdout.write(`usage: berth-runtime ${USAGE[command]}\n`);
    return 0;
  }
  switch (command) {
    case 'create': {
      const p = parseFlags(rest, CREATE);
      await createContainer({
        id: one(p, 'create'),
        bundle: resolve(flag(p, 'bundle') ?? '.'),
        root,
        consoleSocket: flag(p, 'console-socket'),
        pidFile: flag(p, 'pid-file') && resolve(flag(p, 'pid-file')!),
        preserveFds: Number(flag(p, 'preserve-fds') ?? 0),
        noPivot: bool(p, 'no-pivot'),
      });
      return 0;
    }
    case 'start': {
      await startContainer(root, one(parseFlags(rest, {}), 'start'));
      return 0;
    }
    case 'run': {
      const p = parseFlags(rest, CREATE);
      const detach = bool(p, 'detach');
      let launcherPid = 0;
      if (!detach) forwardSignals(() => launcherPid);
      const id = one(p, 'run');
      const code = await runContainer({
        id,
        bundle: resolve(flag(p, 'bundle') ?? '.'),
        root,
        consoleSocket: flag(p, 'console-socket'),
        pidFile: flag(p, 'pid-file') && resolve(flag(p, 'pid-file')!),
        preserveFds: Number(flag(p, 'preserve-fds') ?? 0),
        noPivot: bool(p, 'no-pivot'),
        detach,
        keep: bool(p, 'keep'),
        onStarted: (_pid, lp) => {
          launcherPid = lp;
        },
      });
      return code;
    }
    case 'state': {
      const st = await containerStateWithPause(root, one(parseFlags(rest, {}), 'state'));
      process.stdout.write(JSON.stringify(st, null, '  ') + '\n');
      return 0;
    }
    case 'kill': {
      const p = parseFlags(rest, { all: { value: false, short: 'a' } });
      const id = one(p, 'kill');
      killContainer(root, id, parseSignal(p.positionals[1] ?? 'SIGTERM'), bool(p, 'all'));
      return 0;
    }
    case 'delete': {
      const p = parseFlags(rest, { force: { value: false, short: 'f' } });
      await deleteContainer(root, one(p, 'delete'), bool(p, 'force'));
      return 0;
    }
    case 'list': {
      const p = parseFlags(rest, { format: { value: true, short: 'f' }, quiet: { value: false, short: 'q' } });
      const list = listContainers(root);
      if (flag(p, 'format') === 'json') process.stdout.write(JSON.stringify(list) + '\n');
      else if (bool(p, 'quiet')) process.stdout.write(list.map((c) => c.id + '\n').join(''));
      else {
        const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...list.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, c.owner || 'root'])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd() + '\n').join(''));
      }
      return 0;
    }
    case 'ps': {
      const p = parseFlags(rest, { format: { value: true, short: 'f' } }, { stopAtPositional: false });
      const id = one(p, 'ps');
      const pids = containerPids(root, id);
      if (flag(p, 'format') === 'json') {
        process.stdout.write(JSON.stringify(pids) + '\n');
        return 0;
      }
      const psArgs = p.positionals.slice(1);
      const out = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
      const lines = out.stdout.split('\n');
      const pidCol = lines[0]!.trim().split(/\s+/).indexOf('PID');
      const want = new Set(pids.map(String));
      process.stdout.write(lines[0] + '\n' + lines.slice(1).filter((l) => want.has(l.trim().split(/\s+/)[pidCol]!)).map((l) => l + '\n').join(''));
      return 0;
    }
    case 'exec':
      return execCommand(root, rest);
    case 'spec': {
      const p = parseFlags(rest, { bundle: { value: true, short: 'b' }, rootless: { value: false } });
      const file = resolve(flag(p, 'bundle') ?? '.', 'config.json');
      if (existsSync(file)) throw usage(`File ${file} exists. Remove it first`);
      writeFileSync(file, JSON.stringify(defaultSpec({ rootless: bool(p, 'rootless') }), null, '\t') + '\n');
      return 0;
    }
    case 'pause':
      await pauseContainer(root, one(parseFlags(rest, {}), 'pause'));
      return 0;
    case 'resume':
      await resumeContainer(root, one(parseFlags(rest, {}), 'resume'));
      return 0;
    case 'update': {
      const p = parseFlags(rest, { resources: { value: true, short: 'r' }, memory: { value: true, short: 'm' }, 'pids-limit': { value: true }, 'cpu-quota': { value: true }, 'cpu-period': { value: true }, 'cpu-shares': { value: true } });
      const id = one(p, 'update');
      let resources: LinuxResources = {};
      const file = flag(p, 'resources');
      if (file) {
        const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
        try {
          resources = JSON.parse(text) as LinuxResources;
        } catch (err) {
          throw usage(`--resources ${file}: not valid JSON (${errorMessage(err)})`);
        }
      }
      const num = (name: string) => (flag(p, name) !== undefined ? Number(flag(p, name)) : undefined);
      if (num('memory') !== undefined) resources.memory = { ...resources.memory, limit: num('memory') };
      if (num('pids-limit') !== undefined) resources.pids = { limit: num('pids-limit')! };
      if (num('cpu-quota') !== undefined || num('cpu-period') !== undefined || num('cpu-shares') !== undefined)
        resources.cpu = { ...resources.cpu, quota: num('cpu-quota'), period: num('cpu-period'), shares: num('cpu-shares') };
      await updateContainer(root, id, resources);
      return 0;
    }
    case 'features':
      process.stdout.write(JSON.stringify(runtimeFeatures(), null, '    ') + '\n');
      return 0;
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `COMMAND --help` / `-h` among the command's flags (exec and ps: before the container id, after which come the process's own). */
function wantsHelp(command: string, args: string[]): boolean {
  if (command === 'exec' || command === 'ps') {
    const spec = command === 'exec' ? EXEC : { ...HELP, format: { value: true, short: 'f' } };
    try {
      return bool(parseFlags(args, spec, { stopAtPositional: true }), 'help');
    } catch {
      return false; // the command's own parse reports it
    }
  }
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Attached run/exec: signals to berth-runtime go to the launcher, which passes them to the process. */
function forwardSignals(target: () => number): void {
  const forward = (sig: NodeJS.Signals) => {
    const pid = target();
    if (!pid) return;
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const) process.on(s, forward);
}

async function execCommand(root: string, argv: string[]): Promise<number> {
  // As runc: flags end at the container id; the rest is the command and its own flags.
  const p = parseFlags(argv, EXEC, { stopAtPositional: true });
  p.positionals.push(...p.rest);
  const id = one(p, 'exec');
  let proc: Process;
  const processFile = flag(p, 'process');
  if (processFile) {
    try {
      proc = JSON.parse(readFileSync(processFile, 'utf8')) as Process;
    } catch (err) {
      throw usage(`--process ${processFile}: ${errorMessage(err)}`);
    }
  } else {
    const args = p.positionals.slice(1);
    if (args.length === 0) throw usage('exec: a command is required (or --process FILE)');
    const base = loadState(root, id).config.process!;
    proc = { ...structuredClone(base), args, terminal: bool(p, 'tty') };
    for (const e of flagAll(p, 'env')) {
      if (!e.includes('=')) throw usage(`exec --env: invalid environment variable: ${JSON.stringify(e)}`);
    }
    proc.env = [...(base.env ?? []), ...flagAll(p, 'env')];
    if (flag(p, 'cwd')) proc.cwd = flag(p, 'cwd')!;
    const user = flag(p, 'user');
    if (user) {
      const [uid, gid] = user.split(':');
      proc.user = { ...proc.user, uid: Number(uid), gid: gid !== undefined ? Number(gid) : 0 };
      if (!Number.isInteger(proc.user.uid) || !Number.isInteger(proc.user.gid)) throw usage(`--user ${user}: expected UID[:GID]`);
    }
    const gids = flagAll(p, 'additional-gids');
    if (gids.length) proc.user.additionalGids = gids.flatMap((g) => g.split(',')).map(Number);
    const caps = flagAll(p, 'cap');
    if (caps.length) {
      const c = proc.capabilities ?? {};
      for (const k of ['bounding', 'effective', 'permitted', 'ambient'] as const) c[k] = [...(c[k] ?? []), ...caps];
      proc.capabilities = c;
    }
    if (bool(p, 'no-new-privs')) proc.noNewPrivileges = true;
    if (flag(p, 'apparmor')) proc.apparmorProfile = flag(p, 'apparmor');
    if (flag(p, 'process-label')) proc.selinuxLabel = flag(p, 'process-label');
  }
  if (bool(p, 'tty')) proc.terminal = true;
  const detach = bool(p, 'detach');
  let launcherPid = 0;
  if (!detach) forwardSignals(() => launcherPid);
  return execInContainer({
    root, id, process: proc, detach,
    onStarted: (_pid, lp) => {
      launcherPid = lp;
    },
    consoleSocket: flag(p, 'console-socket'),
    pidFile: flag(p, 'pid-file') && resolve(flag(p, 'pid-file')!),
    preserveFds: Number(flag(p, 'preserve-fds') ?? 0),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = errorMessage(err);
    log('error', msg);
    process.stderr.write(`berth-runtime: ${msg}\n`);
    process.exitCode = failureCode;
  },
);
