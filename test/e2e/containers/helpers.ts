/**
 * Shared set-up for the container e2e tests: a berthd on a temp data root
 * with an offline busybox image imported as busybox:latest, and runners for
 * the real docker CLI and the berth CLI (the shipped dist/berth when built,
 * else the source) that never throw (exit code, stdout, stderr are what the
 * tests assert).
 */
import { execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { startDaemon, NODE, CLI_MAIN, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';

export const DOCKER = '/usr/local/bin/docker';

/** The shipped launcher (scripts/build.mjs; scripts/test.sh builds it first). */
export const DIST_BERTH = resolve(CLI_MAIN, '../../../dist/berth');

/**
 * The command line that runs the berth CLI: the shipped bundle when it is
 * built (a bug only the bundle has must fail here too), else the source.
 */
export function berthCommand(): string[] {
  return existsSync(DIST_BERTH) ? [DIST_BERTH] : [NODE, '--disable-warning=ExperimentalWarning', CLI_MAIN];
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export interface Env {
  d: TestDaemon;
  work: string;
  docker(...args: string[]): Promise<Run>;
  dockerIn(input: string, ...args: string[]): Promise<Run>;
  berth(...args: string[]): Promise<Run>;
  berthIn(input: string, ...args: string[]): Promise<Run>;
  stop(): Promise<void>;
}

/** berthd + busybox:latest imported through the docker CLI (as a user would). */
export async function setup(prefix: string, opts: { daemonArgs?: string[] } = {}): Promise<Env> {
  const work = await makeTempDir(prefix);
  const d = await startDaemon(opts.daemonArgs ? { args: opts.daemonArgs } : {});
  const dockerEnv = { DOCKER_CONFIG: join(work, 'docker-config'), DOCKER_CLI_HINTS: 'false', DOCKER_HOST: d.host };
  const [cli, ...cliArgs] = berthCommand();
  const env: Env = {
    d,
    work,
    docker: (...args) => runCommand(DOCKER, args, { env: dockerEnv }),
    dockerIn: (input, ...args) => runCommand(DOCKER, args, { env: dockerEnv, input }),
    berth: (...args) => runCommand(cli!, [...cliArgs, '-H', d.host, ...args], { env: dockerEnv }),
    berthIn: (input, ...args) => runCommand(cli!, [...cliArgs, '-H', d.host, ...args], { env: dockerEnv, input }),
    async stop() {
      // Containers first (their monitors and mounts), then the daemon and temp dirs.
      const ids = await env.docker('ps', '-aq').catch(() => undefined);
      const list = ids?.stdout.split('\n').filter(Boolean) ?? [];
      if (list.length) await env.docker('rm', '-f', ...list);
      await d.stop();
      await removeTempDir(work);
    },
  };
  try {
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
    const r = await env.docker('import', '-c', 'CMD ["sh"]', join(work, 'busybox.tar'), 'busybox:latest');
    if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
  } catch (err) {
    await env.stop();
    throw err;
  }
  return env;
}

/** Lines of /proc/self/mountinfo that mention a path (leak checks). */
export function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(path));
}

/**
 * Run a command inside a pseudo-terminal (python3's pty module), type
 * `input` after `delayMs`, and collect everything the terminal shows.
 */
export function inPty(argv: string[], steps: Array<{ afterMs: number; send: string }>, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ code: number; output: string }> {
  const script = `
import os, pty, sys, time, select, json
steps = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
def pump(secs):
    global out
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return
            if not d: return
            out += d
for s in steps:
    pump(s['afterMs'] / 1000.0)
    os.write(fd, s['send'].encode())
pump(5)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return new Promise((resolve) => {
    const child = spawn('python3', ['-c', script, JSON.stringify(steps), ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    // 'close': the last output may arrive after 'exit'.
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, output });
    });
  });
}
