/**
 * Shows Docker's JSON message stream the way the docker CLI does
 * (jsonmessage.DisplayJSONMessagesStream): on a terminal, one line per layer
 * id updated in place with a progress bar; otherwise plain status lines with
 * the bars left out.
 */
import type { JSONMessage } from '../api/types.ts';
import { humanSize } from '../api/units.ts';

export interface DisplayTarget {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** The client-side progress string (bar only when the terminal is wider than 110 columns). */
export function progressString(current: number | undefined, total: number | undefined, columns: number): string {
  const cur = current ?? 0;
  const tot = total ?? 0;
  if (cur <= 0 && tot <= 0) return '';
  if (tot <= 0) return humanSize(cur).padStart(8);
  let bar = '';
  if (columns > 110) {
    const pct = Math.min(50, Math.floor(Math.floor((cur / tot) * 100) / 2));
    bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  }
  const numbers = cur > tot ? humanSize(cur).padStart(8) : `${humanSize(cur).padStart(8)}/${humanSize(tot)}`;
  return bar + numbers;
}

export class MessageDisplay {
  private readonly out: DisplayTarget;
  private readonly tty: boolean;
  private ids = new Map<string, number>();

  constructor(out: DisplayTarget, tty = !!out.isTTY) {
    this.out = out;
    this.tty = tty;
  }

  show(jm: JSONMessage): void {
    if (jm.aux !== undefined) return;
    const isProgress = jm.progressDetail !== undefined;
    let diff = 0;
    if (jm.id && isProgress) {
      let line = this.ids.get(jm.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(jm.id, line);
        if (this.tty) this.out.write('\n');
      }
      diff = this.ids.size - line;
      if (this.tty) this.out.write(`\x1b[${diff}A`);
    } else {
      // Anything that is not a per-layer progress line starts a new block.
      this.ids = new Map();
    }
    this.display(jm, isProgress);
    if (jm.id && isProgress && this.tty) this.out.write(`\x1b[${diff}B`);
  }

  private display(jm: JSONMessage, isProgress: boolean): void {
    const progress = isProgress ? progressString(jm.progressDetail?.current, jm.progressDetail?.total, this.out.columns ?? 80) : '';
    let endl = '';
    if (this.tty && !jm.stream && isProgress) {
      this.out.write('\x1b[2K\r');
      endl = '\r';
    } else if (isProgress && progress !== '') {
      return; // no progress bars off a terminal
    }
    let text = jm.id ? `${jm.id}: ` : '';
    if (isProgress && this.tty) text += `${jm.status ?? ''} ${progress}${endl}`;
    else if (jm.stream) text += `${jm.stream}${endl}`;
    else text += `${jm.status ?? ''}${endl}\n`;
    this.out.write(text);
  }
}

/** Drain a message stream to the display; returns the aux payloads (push digests, build ids). */
export async function displayStream(messages: AsyncIterable<JSONMessage>, out: DisplayTarget, quiet = false): Promise<unknown[]> {
  const display = new MessageDisplay(out);
  const aux: unknown[] = [];
  for await (const jm of messages) {
    if (jm.aux !== undefined) aux.push(jm.aux);
    if (!quiet) display.show(jm);
  }
  return aux;
}
