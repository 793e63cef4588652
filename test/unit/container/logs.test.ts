import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, appendFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { readLogs, unixToLogTime, type LogEntry } from '../../../src/container/logs.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

const line = (log: string, second: number, stream = 'stdout') =>
  JSON.stringify({ log, stream, time: unixToLogTime(1_700_000_000 + second) }) + '\n';

async function collect(it: AsyncIterable<LogEntry>) {
  const out: string[] = [];
  for await (const e of it) out.push(e.log);
  return out;
}

describe('json-file log reader', () => {
  test('reads rotated files oldest first', async () => {
    const d = await makeTempDir();
    dirs.push(d);
    const p = join(d, 'log');
    await writeFile(`${p}.2`, line('a\n', 1));
    await writeFile(`${p}.1`, line('b\n', 2));
    await writeFile(p, line('c\n', 3) + line('d\n', 4));
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 3 })), ['a\n', 'b\n', 'c\n', 'd\n']);
  });

  test('tail spans rotated files; tail 0 gives nothing', async () => {
    const d = await makeTempDir();
    dirs.push(d);
    const p = join(d, 'log');
    await writeFile(`${p}.1`, line('a\n', 1) + line('b\n', 2));
    await writeFile(p, line('c\n', 3));
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 2, tail: 2 })), ['b\n', 'c\n']);
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 2, tail: 0 })), []);
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 2, tail: 10 })), ['a\n', 'b\n', 'c\n']);
  });

  test('since and until filter by time; a torn last line is skipped', async () => {
    const d = await makeTempDir();
    dirs.push(d);
    const p = join(d, 'log');
    await writeFile(p, line('a\n', 1) + line('b\n', 2) + line('c\n', 3) + '{"log":"tor');
    const base = 1_700_000_000;
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 1, since: base + 2 })), ['b\n', 'c\n']);
    assert.deepEqual(await collect(readLogs({ path: p, maxFiles: 1, until: base + 2 })), ['a\n']);
  });

  test('follow sees appends and survives a rotation, and ends when the container exits', async () => {
    const d = await makeTempDir();
    dirs.push(d);
    const p = join(d, 'log');
    await writeFile(p, line('a\n', 1));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const got = collect(readLogs({ path: p, maxFiles: 2, follow: true, exited }));
    await new Promise((r) => setTimeout(r, 120));
    await appendFile(p, line('b\n', 2));
    await new Promise((r) => setTimeout(r, 120));
    await rename(p, `${p}.1`);
    await writeFile(p, line('c\n', 3));
    await new Promise((r) => setTimeout(r, 200));
    await appendFile(p, line('d\n', 4));
    exit();
    assert.deepEqual(await got, ['a\n', 'b\n', 'c\n', 'd\n']);
  });
});
