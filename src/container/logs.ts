/**
 * Reading a container's json-file log (written by berth-monitor, rotated as
 * log, log.1, … log.N with the oldest last) for `logs` with --tail, --since,
 * --until, --timestamps and --follow, including across rotations and across
 * berthd restarts (the file is the source of truth, not memory).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  log: string;
  /** RFC 3339 with nanoseconds, UTC (as Docker writes it). */
  time: string;
}

export interface ReadLogsOptions {
  path: string;
  maxFiles: number;
  /** Only the last N entries (before following). */
  tail?: number;
  /** Unix time in seconds (fractions allowed): entries at or after it. */
  since?: number;
  /** Unix time in seconds: entries before it. */
  until?: number;
  follow?: boolean;
  /** Resolves when the container has exited and no more output can come. */
  exited?: Promise<unknown>;
  signal?: AbortSignal;
}

/** Unix seconds → the log's timestamp format, so filtering is a string compare. */
export function unixToLogTime(seconds: number): string {
  const whole = Math.floor(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  const iso = new Date(whole * 1000).toISOString(); // …:SS.000Z
  return `${iso.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === 'string' && typeof e.time === 'string' ? e : undefined;
  } catch {
    // A torn last line (the monitor was killed mid-write) is skipped.
    return undefined;
  }
}

function rotatedPaths(path: string, maxFiles: number): string[] {
  const paths: string[] = [];
  for (let i = Math.max(maxFiles, 1) - 1; i >= 1; i--) paths.push(`${path}.${i}`);
  paths.push(path);
  return paths; // oldest first
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The last `n` complete lines of a file, read backwards in chunks. */
async function lastLines(fh: FileHandle, n: number): Promise<string[]> {
  const { size } = await fh.stat();
  const chunk = 64 * 1024;
  let pos = size;
  let carry = Buffer.alloc(0);
  const lines: string[] = [];
  while (pos > 0 && lines.length <= n) {
    const len = Math.min(chunk, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, pos);
    carry = Buffer.concat([buf, carry]);
    let nl;
    while ((nl = carry.lastIndexOf(0x0a, carry.length - 2)) !== -1 && lines.length <= n) {
      lines.unshift(carry.subarray(nl + 1).toString('utf8').replace(/\n$/, ''));
      carry = carry.subarray(0, nl + 1);
    }
  }
  if (pos === 0 && carry.length > 0 && lines.length <= n) lines.unshift(carry.toString('utf8').replace(/\n$/, ''));
  return lines.filter(Boolean).slice(-n);
}

async function* linesOf(fh: FileHandle, from = 0): AsyncGenerator<string, number> {
  let pos = from;
  let carry = '';
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    carry += buf.toString('utf8', 0, bytesRead);
    let nl;
    while ((nl = carry.indexOf('\n')) !== -1) {
      yield carry.slice(0, nl);
      carry = carry.slice(nl + 1);
    }
  }
  // An incomplete last line is left for the follower to pick up later.
  return pos - Buffer.byteLength(carry);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function* readLogs(opts: ReadLogsOptions): AsyncGenerator<LogEntry> {
  const since = opts.since !== undefined && opts.since > 0 ? unixToLogTime(opts.since) : undefined;
  const until = opts.until !== undefined && opts.until > 0 ? unixToLogTime(opts.until) : undefined;
  const wanted = (e: LogEntry) => (!since || e.time >= since) && (!until || e.time < until);

  // 1. What is on disk now.
  const paths = rotatedPaths(opts.path, opts.maxFiles);
  let current: FileHandle | undefined;
  let offset = 0;
  if (opts.tail !== undefined && opts.tail >= 0) {
    const collected: LogEntry[] = [];
    for (let i = paths.length - 1; i >= 0 && collected.length < opts.tail; i--) {
      const fh = await openIfExists(paths[i]!);
      if (!fh) continue;
      const lines = await lastLines(fh, opts.tail - collected.length);
      collected.unshift(...lines.map(parseLine).filter((e): e is LogEntry => !!e && wanted(e)));
      if (i === paths.length - 1) {
        current = fh;
        offset = (await fh.stat()).size;
      } else await fh.close();
    }
    for (const e of opts.tail === 0 ? [] : collected.slice(-opts.tail)) yield e;
  } else {
    for (let i = 0; i < paths.length; i++) {
      const fh = await openIfExists(paths[i]!);
      if (!fh) continue;
      const it = linesOf(fh);
      let r;
      while (!(r = await it.next()).done) {
        const e = parseLine(r.value);
        if (e && wanted(e)) yield e;
      }
      if (i === paths.length - 1) {
        current = fh;
        offset = r.value;
      } else await fh.close();
    }
  }
  if (!opts.follow) {
    await current?.close();
    return;
  }

  // 2. Follow: poll for appends; on rotation, finish the old file, then read the new one.
  let exited = false;
  void opts.exited?.then(() => {
    exited = true;
  });
  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      if (!current) {
        current = await openIfExists(opts.path);
        offset = 0;
      }
      if (current) {
        const it = linesOf(current, offset);
        let r;
        while (!(r = await it.next()).done) {
          const e = parseLine(r.value);
          if (e && wanted(e)) yield e;
        }
        offset = r.value;
        // Rotated away under us? The open handle still reads the old file to its end.
        const onDisk = await stat(opts.path).catch(() => undefined);
        const mine = await current.stat();
        if (onDisk && onDisk.ino !== mine.ino) {
          await current.close();
          current = undefined;
          continue;
        }
      }
      if (until && new Date().toISOString() > until) return;
      if (exited) {
        // One last read after the exit so nothing written just before it is lost.
        if (current) {
          const it = linesOf(current, offset);
          let r;
          while (!(r = await it.next()).done) {
            const e = parseLine(r.value);
            if (e && wanted(e)) yield e;
          }
        }
        return;
      }
      await sleep(50);
    }
  } finally {
    await current?.close();
  }
}
