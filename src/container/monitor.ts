/**
 * The berthd side of berth-monitor (native/monitor/monitor.c): start one per
 * container, talk to it over its sockets, and learn of the container's exit
 * even across a berthd restart (the monitor outlives us; we reconnect).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { findNativeBinary } from '../common/native.ts';
import type { MountRequest } from '../snapshot/mount.ts';

export interface MonitorOptions {
  /** The container's state directory: monitor.pid and exit.json go here. */
  dir: string;
  /** Where the sockets go (default `dir`): unix socket paths are limited to 108 bytes. */
  socketDir?: string;
  /** json-file log; omitted for exec sessions whose output only goes to attach clients. */
  log?: { path: string; maxSize: number; maxFiles: number };
  /** Keep the container's stdin open as a pipe fed by attach clients. */
  stdin?: boolean;
  /** Close stdin when the first attach client detaches (Docker's StdinOnce). */
  stdinOnce?: boolean;
  /** The command receives a pty over DIR/console.sock instead of pipes. */
  tty?: boolean;
  /** When set, the command is a launcher that writes the container pid here and exits. */
  pidFile?: string;
  /**
   * The command is berth-launcher: it gets a control channel to us as its fd 3
   * (see src/runtime/launcher.ts for that protocol), and we tell the monitor
   * the container's pid once the launcher has reported it.
   */
  launcherChannel?: boolean;
  /** mount(2) calls the monitor makes before it listens, and undoes once the container has exited. */
  mounts?: MountRequest[];
  command: string[];
}

export interface ExitStatus {
  exitCode: number;
  /** Signal that killed the process, 0 when it exited normally. */
  signal: number;
  finishedAt: string;
}

export interface StartedMonitor {
  monitorPid: number;
  containerPid: number;
}

/** The monitor binary: $BERTH_MONITOR, else native/build/berth-monitor of this checkout. */
export function monitorBinary(): string {
  const path = findNativeBinary('berth-monitor', 'BERTH_MONITOR');
  if (!path) throw new BerthError('BERTH_MONITOR_MISSING', 'berth-monitor is not built: run scripts/setup.sh (it builds native/)');
  return path;
}

export function monitorArgs(opts: MonitorOptions): string[] {
  const args = ['--dir', opts.dir];
  if (opts.socketDir && opts.socketDir !== opts.dir) args.push('--socket-dir', opts.socketDir);
  if (opts.log) {
    args.push('--log', opts.log.path, '--log-max-size', String(opts.log.maxSize), '--log-max-files', String(opts.log.maxFiles));
  }
  if (opts.stdin) args.push('--stdin');
  if (opts.stdinOnce) args.push('--stdin-once');
  if (opts.tty) args.push('--tty');
  if (opts.pidFile) args.push('--pid-file', opts.pidFile);
  if (opts.launcherChannel) args.push('--pass-fd', '4', '--pid-from-sync');
  for (const m of opts.mounts ?? []) args.push('--mount', m.target, m.fstype, m.source, String(m.flags), m.data, m.cwd);
  args.push('--', ...opts.command);
  return args;
}

/**
 * A monitor that is up and listening but has not started its command yet,
 * so attach clients can connect first and see every byte of output.
 */
export interface PendingMonitor {
  monitorPid: number;
  /** With launcherChannel: berthd's end of the launcher's control socket. */
  launcherChannel: Socket | undefined;
  /**
   * Start the command; resolves with the container pid once it runs. With
   * launcherChannel, `containerPid` must resolve with the pid the launcher
   * reported (or reject with its error) before the monitor can report it.
   */
  start(containerPid?: Promise<number>): Promise<StartedMonitor>;
  /** Give up without starting: the monitor undoes its mounts and exits; resolves once it has. */
  cancel(): Promise<void>;
}

/** A monitor process and its pipes, before it has its arguments or after. */
interface MonitorProcess {
  child: ChildProcess;
  sync: Socket;
  stderr: Buffer[];
  exited: Promise<void>;
}

function spawnMonitorProcess(args: string[], launcherChannel: boolean): MonitorProcess {
  const child = spawn(monitorBinary(), args, {
    // fd 3 is a socketpair: the monitor's start handshake with us; fd 4,
    // when asked for, is handed on to the launcher as its control channel.
    stdio: launcherChannel ? ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b));
  // The monitor must not be tied to our lifetime.
  child.unref();
  (child.stderr as Socket).unref?.();
  const exited = new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    child.once('exit', () => res());
    child.once('error', () => res());
  });
  return { child, sync: child.stdio[3] as Socket, stderr, exited };
}

/**
 * One monitor started ahead of time (--args-from-sync), so that a container's
 * start does not wait for berthd to fork itself: with berthd's heap, a spawn
 * costs milliseconds of its event loop. The next one is started shortly
 * after the last was taken, off the request's path.
 */
export class MonitorPool {
  private idle: MonitorProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** An idle monitor (with a launcher channel), or undefined to spawn one the usual way. */
  take(): MonitorProcess | undefined {
    const m = this.idle;
    this.idle = undefined;
    this.schedule();
    if (!m || m.child.exitCode !== null || m.child.signalCode !== null || m.sync.destroyed) return undefined;
    // In use now: its pipes keep the process alive again, as a fresh monitor's do.
    m.sync.ref();
    (m.child.stdio[4] as Socket).ref();
    return m;
  }

  /** Start the idle monitor now (berthd does at start-up). */
  fill(): void {
    if (this.closed || this.idle) return;
    try {
      const m = spawnMonitorProcess(['--args-from-sync'], true);
      // Idle, it must not keep the process alive.
      m.sync.unref();
      (m.child.stdio[4] as Socket).unref();
      m.sync.on('error', () => {});
      void m.exited.then(() => {
        if (this.idle === m) this.idle = undefined;
      });
      this.idle = m;
    } catch {
      /* no monitor binary: every start reports that itself */
    }
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fill();
    }, 20);
    this.timer.unref();
  }

  /** The idle monitor sees its channel close and exits. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const m = this.idle;
    this.idle = undefined;
    if (m) {
      m.sync.destroy();
      (m.child.stdio[4] as Socket).destroy();
      // Keep the event loop alive until it has gone (it was unref'd while idle).
      m.child.ref();
      await m.exited;
    }
  }
}

/** Spawn a monitor (or configure an idle one from `pool`) and wait until its sockets are up. */
export function spawnMonitor(opts: MonitorOptions, pool?: MonitorPool): Promise<PendingMonitor> {
  const idle = opts.launcherChannel ? pool?.take() : undefined;
  const proc = idle ?? spawnMonitorProcess(monitorArgs(opts), !!opts.launcherChannel);
  if (idle) {
    const payload = Buffer.from(monitorArgs(opts).map((a) => `${a}\0`).join(''));
    idle.sync.write(`args ${payload.length}\n`);
    idle.sync.write(payload);
  }
  const { child, sync, stderr } = proc;

  let buffered = '';
  const lines: string[] = [];
  const waiters: Array<(line: string | undefined) => void> = [];
  let ended = false;
  sync.setEncoding('utf8');
  sync.on('data', (chunk: string) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const onEnd = () => {
    ended = true;
    for (const w of waiters.splice(0)) w(undefined);
  };
  sync.on('end', onEnd);
  sync.on('close', onEnd);
  sync.on('error', onEnd);
  const nextLine = () =>
    new Promise<string | undefined>((res) => {
      const l = lines.shift();
      if (l !== undefined) res(l);
      else if (ended) res(undefined);
      else waiters.push(res);
    });

  const failure = (line: string | undefined, stage: string) => {
    const detail = line?.startsWith('error ') ? line.slice(6) : Buffer.concat(stderr).toString().trim() || 'monitor exited';
    return new BerthError('BERTH_MONITOR_FAILED', `${stage}: ${detail}`);
  };

  return nextLine().then((line) => {
    if (line === undefined && idle) {
      // The idle monitor was gone before it read its arguments (killed
      // meanwhile): nothing of this container happened there; start afresh.
      sync.destroy();
      return spawnMonitor(opts);
    }
    if (line !== 'listening') {
      sync.destroy();
      throw failure(line, 'starting the container monitor');
    }
    const channel = opts.launcherChannel ? (child.stdio[4] as Socket) : undefined;
    return {
      monitorPid: child.pid!,
      launcherChannel: channel,
      async start(containerPid?: Promise<number>) {
        sync.write('start\n');
        if (opts.launcherChannel) {
          if (!containerPid) throw new Error('start(): a launcher channel needs the container pid promise');
          let pid: number;
          try {
            pid = await containerPid;
          } catch (err) {
            sync.destroy();
            throw err;
          }
          sync.write(`pid ${pid}\n`);
        }
        const started = await nextLine();
        sync.destroy();
        const m = started?.match(/^started (\d+)$/);
        if (!m) throw failure(started, 'starting the container');
        return { monitorPid: child.pid!, containerPid: Number(m[1]) };
      },
      async cancel() {
        sync.destroy();
        channel?.destroy();
        // It exits (after unmounting) on seeing its channel close: wait for that, not forever.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([proc.exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
      },
    };
  });
}

/** Connect to a monitor's control socket; resolves undefined if the monitor is gone. */
export function connectControl(socketDir: string): Promise<Socket | undefined> {
  return new Promise((res) => {
    const sock = connect(join(socketDir, 'control.sock'));
    sock.once('connect', () => res(sock));
    sock.once('error', () => res(undefined));
  });
}

/**
 * Resolves when the container has exited: the monitor closes every control
 * connection when it is done. Works for monitors started by an earlier berthd.
 */
export async function watchExit(dir: string, socketDir: string = dir): Promise<ExitStatus> {
  const sock = await connectControl(socketDir);
  if (sock) {
    await new Promise<void>((res) => {
      sock.on('close', () => res());
      sock.on('error', () => res());
      sock.resume();
    });
  }
  const status = await readExitStatus(dir);
  if (!status) {
    // The monitor died without writing a status (killed with -9): the
    // container's fate is unknown; Docker reports such containers as exited 255.
    return { exitCode: 255, signal: 0, finishedAt: new Date().toISOString() };
  }
  return status;
}

/**
 * Exec directories (<container dir>/exec/<exec id>) left by an earlier berthd,
 * which removes each once its exec has exited but may have been killed first
 * (a health probe or `docker exec` in flight): each is removed once its
 * monitor is done, at once when it already is. The exec records died with
 * that berthd, so nothing else would. Resolves once the directory is listed
 * (execs started afterwards are not touched); the removals go on in the background.
 */
export async function reapExecDirs(execRoot: string, socketDirOf: (execId: string) => string): Promise<void> {
  const entries = await readdir(execRoot).catch(() => [] as string[]);
  for (const id of entries) {
    void watchExit(join(execRoot, id), socketDirOf(id))
      .then(() => rm(join(execRoot, id), { recursive: true, force: true }))
      .catch(() => {});
  }
}

export async function readExitStatus(dir: string): Promise<ExitStatus | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'exit.json'), 'utf8')) as ExitStatus;
  } catch {
    return undefined;
  }
}

export async function sendControl(socketDir: string, line: string): Promise<void> {
  const sock = await connectControl(socketDir);
  if (!sock) throw new BerthError('BERTH_CONTAINER_NOT_RUNNING', 'the container is not running', { status: 409 });
  await new Promise<void>((res) => sock.end(line + '\n', () => res()));
}

export const resizeTty = (socketDir: string, rows: number, cols: number) => sendControl(socketDir, `resize ${rows} ${cols}`);
export const closeStdin = (socketDir: string) => sendControl(socketDir, 'close-stdin');

/** Connect to the attach socket: output arrives in Docker's multiplexed framing, writes go to stdin. */
export function attach(socketDir: string): Promise<Socket> {
  return new Promise((res, rej) => {
    const sock = connect(join(socketDir, 'attach.sock'));
    sock.once('connect', () => res(sock));
    sock.once('error', (err) =>
      rej(new BerthError('BERTH_CONTAINER_NOT_RUNNING', `cannot attach: ${err.message}`, { status: 409 })),
    );
  });
}
