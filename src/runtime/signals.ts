import { constants } from 'node:os';
import { BerthError } from '../common/errors.ts';

/** "9", "KILL", "SIGKILL", "sigterm" → signal number. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 0 && n < 65) return n;
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
  }
  throw new BerthError('BERTH_RUNTIME_BAD_SIGNAL', `unknown signal ${JSON.stringify(text)}`, { status: 400 });
}
