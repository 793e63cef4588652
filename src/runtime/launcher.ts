/**
 * Starts the C launcher (native/build/berth-launcher) with a plan and follows
 * its control messages: "pid N", "hook", "ready", "error MSG", "exit N".
 * No Node process stays per container: in detached modes the launcher exits
 * (or stays as its own small monitor) once the process is ready.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { BerthError } from '../common/errors.ts';
import { findNativeBinary } from '../common/native.ts';

/** The launcher binary: $BERTH_LAUNCHER, else native/build/berth-launcher of this checkout. */
export function launcherPath(): string {
  const path = findNativeBinary('berth-launcher', 'BERTH_LAUNCHER');
  if (!path) {
    throw new BerthError('BERTH_RUNTIME_LAUNCHER_MISSING', 'native/build/berth-launcher not found: run `node scripts/build.mjs` (or set BERTH_LAUNCHER)');
  }
  return path;
}

export type StdioSpec = 'inherit' | 'ignore' | 'pipe' | number;

export interface LaunchOptions {
  plan: Buffer;
  /** stdin, stdout, stderr of the container process. */
  stdio?: [StdioSpec, StdioSpec, StdioSpec];
  /** Open fds of this process to hand to the container as fds 3, 4, … (--preserve-fds). */
  preserveFds?: number[];
  /** Runs the runtime hooks when the launcher pauses after mounts; returns the state JSON for the container hooks. */
  onHook?: (pid: number) => Promise<string | void>;
  /** Called as soon as the process exists (before it is set up). */
  onPid?: (pid: number) => void;
}

export interface Launch {
  child: ChildProcess;
  /** Resolves with the container pid once it is set up; rejects with the launcher's error. */
  ready: Promise<number>;
  /** The launcher's exit code (the container's exit status in attached modes). */
  exited: Promise<number>;
}

export interface ControlHandlers {
  /** Runs the runtime hooks when the launcher pauses after mounts; returns the state JSON for the container hooks. */
  onHook?: (pid: number) => Promise<string | void>;
  /** Called as soon as the process exists (before it is set up). */
  onPid?: (pid: number) => void;
  /** Why the launcher stopped, for the error when it ends before "ready" (e.g. its exit code). */
  endReason?: () => Promise<string>;
}

/**
 * The launcher's control protocol, whoever spawned it (this module, or a
 * berth-monitor that passed the channel through): write the plan, follow
 * its lines — "pid N", "hook" (answer "ok [state]" or "fail MSG"), "ready",
 * "error MSG" — and resolve with the pid once the process is ready. Only the
 * launcher holds the other end, so its close means every message (an error
 * included) has been read.
 */
export function followLauncher(ctl: Socket, plan: Buffer, handlers: ControlHandlers = {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let pid = 0;
    let lastError: string | undefined;
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const ended = () => {
      if (settled) return;
      const reason = handlers.endReason ? handlers.endReason() : Promise.resolve('the launcher exited');
      void reason.then((why) => settle(() => reject(launchError(lastError ?? `${why} before the container was ready`))));
    };
    ctl.on('close', ended);
    ctl.on('error', () => {});
    let buf = '';
    ctl.setEncoding('utf8');
    ctl.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const sp = line.indexOf(' ');
        const word = sp < 0 ? line : line.slice(0, sp);
        const rest = sp < 0 ? '' : line.slice(sp + 1);
        if (word === 'pid') {
          pid = Number(rest);
          handlers.onPid?.(pid);
        } else if (word === 'hook') {
          const run = handlers.onHook ? handlers.onHook(pid) : Promise.resolve();
          run.then(
            (state) => ctl.write(state ? `ok ${state.replace(/\n/g, ' ')}\n` : 'ok\n'),
            (err: unknown) => ctl.write(`fail ${String((err as Error).message ?? err).replace(/\n/g, ' ')}\n`),
          );
        } else if (word === 'ready') {
          settle(() => resolve(pid));
        } else if (word === 'error') {
          lastError = rest;
        }
      }
    });
    ctl.write(plan);
  });
}

export function launch(opts: LaunchOptions): Launch {
  const preserve = opts.preserveFds ?? [];
  const ctlFd = 3 + preserve.length;
  const stdio: StdioOptions = [...(opts.stdio ?? ['inherit', 'inherit', 'inherit']), ...preserve, 'pipe'];
  const child = spawn(launcherPath(), [String(ctlFd)], { stdio, env: {} });
  const ctl = child.stdio[ctlFd] as Socket;
  // The exit code comes from 'exit', not 'close': the container may hold piped
  // stdio open long after the launcher is gone.
  const exited = new Promise<number>((res) => {
    child.on('exit', (code, signal) => res(code ?? 128 + (signal ? 9 : 0)));
  });
  const ready = Promise.race([
    followLauncher(ctl, opts.plan, {
      ...(opts.onHook ? { onHook: opts.onHook } : {}),
      ...(opts.onPid ? { onPid: opts.onPid } : {}),
      endReason: () => exited.then((code) => `launcher exited (${code})`),
    }),
    new Promise<number>((_, rej) => child.on('error', rej)),
  ]);
  ready.catch(() => {});
  return { child, ready, exited };
}

function launchError(message: string): BerthError {
  const code = message.startsWith('exec ') ? 'BERTH_RUNTIME_EXEC_FAILED' : 'BERTH_RUNTIME_LAUNCH_FAILED';
  return new BerthError(code, message, { status: 500 });
}
