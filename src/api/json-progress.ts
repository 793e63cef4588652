/**
 * Docker's JSON message stream (pull, push, import, load): chunked, one JSON
 * object per line terminated by CRLF, with the `progress` bar string rendered
 * server-side exactly as dockerd does (see protocol-traces/docker-pull.txt).
 */
import type { ServerResponse } from 'node:http';
import type { JSONMessage } from './types.ts';
import type { ProgressEvent } from '../common/progress.ts';
import { humanSize } from './units.ts';

/** `[=>      ]  36.41kB/1.069MB` — dockerd's JSONProgress.String() at full width. */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  let pct = Math.floor((current / total) * 100) / 2;
  pct = Math.floor(pct);
  if (pct > 50) pct = 50;
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** A service progress event as Docker's JSON message. */
export function progressMessage(event: ProgressEvent): JSONMessage {
  const msg: JSONMessage = { status: event.status };
  if (event.id && event.status.startsWith('Pulling from ')) msg.id = event.id;
  // Whole-operation lines that carry an id (dockerd's "Pulling from busybox" with id "latest") have no progressDetail.
  if (event.id && !event.status.startsWith('Pulling from ')) {
    // Per-layer lines always carry progressDetail (empty when no counts).
    msg.progressDetail = {};
    if (event.current !== undefined && event.total !== undefined) {
      msg.progressDetail = { current: event.current, total: event.total };
      msg.progress = progressBar(event.current, event.total);
    }
    msg.id = event.id;
  }
  return msg;
}

/** Go's encoding/json escapes <, > and & in strings; the docker CLI does not care, but traces match. */
export function encodeMessage(msg: JSONMessage): string {
  return JSON.stringify(msg).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) + '\r\n';
}

/**
 * A writer for one streamed answer. Headers go out on the first write so a
 * failure before any output can still be a proper error status; once started,
 * errors become an `{"error": …}` line, which is how Docker reports them.
 */
export class JsonMessageStream {
  private readonly res: ServerResponse;
  private started = false;

  constructor(res: ServerResponse) {
    this.res = res;
  }

  get hasStarted(): boolean {
    return this.started;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, { 'Content-Type': 'application/json' });
  }

  write(msg: JSONMessage): void {
    this.start();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(encodeMessage(msg));
  }

  progress(event: ProgressEvent): void {
    this.write(progressMessage(event));
  }

  status(status: string, id?: string): void {
    this.write(id === undefined ? { status } : { status, id });
  }

  error(message: string): void {
    this.write({ errorDetail: { message }, error: message });
  }

  end(): void {
    this.start();
    if (!this.res.writableEnded) this.res.end();
  }
}
