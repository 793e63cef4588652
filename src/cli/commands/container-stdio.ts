/**
 * The CLI side of attach/exec streams: demultiplex Docker's 8-byte framed
 * output to stdout/stderr (raw for a TTY), copy stdin in (half-closing when
 * it ends, as the docker CLI does), put the local terminal in raw mode for
 * -t, send the window size on start and on SIGWINCH, watch for the detach
 * keys (Ctrl-P Ctrl-Q), and forward signals to the container (--sig-proxy).
 */
import type { Duplex } from 'node:stream';
import type { EngineClient } from '../../client/client.ts';
import type { Io } from '../command.ts';
import { DetachScanner, FrameReader, parseDetachKeys } from '../../api/container-stdio.ts';

export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys?: string;
}

export interface StreamResult {
  /** The user typed the detach sequence. */
  detached: boolean;
}

/** Pump a hijacked connection until the output ends (or the user detaches). */
export function pumpStreams(conn: Duplex, io: Io, opts: StreamOptions): Promise<StreamResult> {
  return new Promise((resolve) => {
    const reader = new FrameReader();
    let detached = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // Without -i stdin is never touched (creating process.stdin costs a
      // stream, and for a file or /dev/null all of fs's stream code).
      if (opts.stdin) {
        io.stdin.off('data', onInput);
        io.stdin.off('end', onInputEnd);
        io.stdin.pause();
      }
      resolve({ detached });
    };
    conn.on('data', (chunk: Buffer) => {
      if (opts.tty) {
        io.stdout.write(chunk);
        return;
      }
      for (const f of reader.push(chunk)) (f.stream === 2 ? io.stderr : io.stdout).write(f.data);
    });
    conn.on('end', finish);
    conn.on('close', finish);
    conn.on('error', finish);
    const scanner = new DetachScanner(parseDetachKeys(opts.detachKeys));
    const onInput = (chunk: Buffer) => {
      const { pass, detach } = opts.tty ? scanner.push(chunk) : { pass: chunk, detach: false };
      if (pass.length) conn.write(pass);
      if (detach) {
        detached = true;
        conn.destroy();
        finish();
      }
    };
    const onInputEnd = () => {
      // Half-close: the container sees EOF on stdin, output keeps coming.
      (conn as Duplex & { end(): void }).end();
    };
    if (opts.stdin) {
      io.stdin.on('data', onInput);
      io.stdin.on('end', onInputEnd);
      io.stdin.resume();
    } else conn.end();
    conn.resume();
  });
}

/** Raw mode on the local terminal for -t; returns the restore function. */
export function rawTerminal(io: Io, enabled: boolean): () => void {
  if (!enabled) return () => {};
  const stdin = io.stdin as NodeJS.ReadStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  if (!stdin.isTTY || !stdin.setRawMode) return () => {};
  stdin.setRawMode(true);
  // libuv's raw mode keeps output post-processing (ONLCR): the container's
  // terminal already sends \r\n, so turn it off or every line gets \r\r\n.
  const stty = (arg: string) => process.getBuiltinModule('node:child_process').spawnSync('stty', [arg], { stdio: [0, 'ignore', 'ignore'] });
  stty('-opost');
  return () => {
    stty('opost');
    stdin.setRawMode!(false);
  };
}

/** Send the local window size now and whenever it changes. */
export function followWindowSize(client: EngineClient, path: string, io: Io, enabled: boolean): () => void {
  if (!enabled) return () => {};
  const out = io.stdout as NodeJS.WriteStream & { isTTY?: boolean; rows?: number; columns?: number };
  if (!out.isTTY) return () => {};
  const send = () => {
    if (!out.rows || !out.columns) return;
    client
      .raw('POST', path, { query: { h: out.rows, w: out.columns } })
      .then((r) => r.resume())
      .catch(() => {});
  };
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}

const PROXIED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** --sig-proxy: signals the CLI receives are sent to the container. */
export function proxySignals(client: EngineClient, id: string): () => void {
  const handlers = PROXIED.map((sig) => {
    const h = () => {
      client
        .raw('POST', `/containers/${id}/kill`, { query: { signal: sig } })
        .then((r) => r.resume())
        .catch(() => {});
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
