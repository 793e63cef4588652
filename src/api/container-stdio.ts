/**
 * Docker's stdio stream framing: on attach/logs/exec streams of containers
 * without a TTY every chunk of output is preceded by an 8-byte header
 * (stream id 0 stdin, 1 stdout, 2 stderr; 3 zero bytes; big-endian length).
 * With a TTY the bytes go raw. The monitor always frames; these helpers
 * filter frames by stream and strip headers for TTY clients, and detect
 * Docker's detach key sequence (default Ctrl-P Ctrl-Q) in client input.
 */
import { BerthError } from '../common/errors.ts';

export const STDOUT = 1;
export const STDERR = 2;

export function frame(stream: number, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Incremental parser of framed output: push bytes, get whole frames back. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<{ stream: number; data: Buffer }> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Array<{ stream: number; data: Buffer }> = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      out.push({ stream: this.buf[0]!, data: this.buf.subarray(8, 8 + len) });
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }
}

/**
 * Docker's --detach-keys: "ctrl-p,ctrl-q" (default), "ctrl-@", "ctrl-a".."ctrl-z",
 * "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_", or single characters.
 */
export function parseDetachKeys(spec: string | undefined): Buffer {
  const text = spec === undefined || spec === '' ? 'ctrl-p,ctrl-q' : spec;
  const bytes: number[] = [];
  for (const key of text.split(',')) {
    const k = key.trim();
    const ctrl = /^ctrl-(.)$/i.exec(k);
    if (ctrl) {
      const c = ctrl[1]!.toLowerCase();
      const code = c === '@' ? 0 : c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : { '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c];
      if (code === undefined) throw new BerthError('BERTH_API_BAD_DETACH_KEYS', `Invalid detach keys (${text}): unknown control key ${k}`, { status: 400 });
      bytes.push(code);
    } else if (k.length === 1) bytes.push(k.charCodeAt(0));
    else throw new BerthError('BERTH_API_BAD_DETACH_KEYS', `Invalid detach keys (${text}): ${k} is not a key`, { status: 400 });
  }
  return Buffer.from(bytes);
}

/**
 * Watches client input for the detach sequence. Bytes that could start the
 * sequence are held back until it is clear they do not; `push` returns what
 * may go on to the container and whether the sequence was typed.
 */
export class DetachScanner {
  private readonly keys: Buffer;
  private matched = 0;

  constructor(keys: Buffer) {
    this.keys = keys;
  }

  push(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      // Not the sequence after all: release what was held, then look at this byte afresh.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (b === this.keys[0]) {
        this.matched = 1;
        if (this.keys.length === 1) return { pass: Buffer.from(out), detach: true };
      } else out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
