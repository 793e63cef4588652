/**
 * berthd's log: one line per event on stderr, `time level message`, filtered
 * by --log-level. (When the CLI autostarts berthd, stderr is <data root>/berthd.log.)
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function isLogLevel(s: string): s is LogLevel {
  return s in ORDER;
}

export function makeLogger(min: LogLevel, out: NodeJS.WritableStream = process.stderr) {
  return (level: LogLevel, message: string): void => {
    if (ORDER[level] < ORDER[min]) return;
    out.write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`);
  };
}
