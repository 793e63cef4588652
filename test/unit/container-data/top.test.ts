import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePsOutput } from '../../../src/container/top.ts';
import { isBerthError } from '../../../src/common/errors.ts';

describe('ps output as docker top shows it', () => {
  const psEf = [
    'UID          PID    PPID  C STIME TTY          TIME CMD',
    'root           1       0  0 12:18 ?        00:00:18 /sbin/init splash',
    'root         100       1  0 12:19 ?        00:00:00 sh -c sleep 30; echo "done  twice"',
    'root         101     100  0 12:19 ?        00:00:00 sleep 30',
    '',
  ].join('\n');

  test('keeps only the container rows, the command column with its spaces', () => {
    const r = parsePsOutput(psEf, [100, 101]);
    assert.deepEqual(r.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(r.Processes, [
      ['root', '100', '1', '0', '12:19', '?', '00:00:00', 'sh -c sleep 30; echo "done twice"'],
      ['root', '101', '100', '0', '12:19', '?', '00:00:00', 'sleep 30'],
    ]);
  });

  test('thread lines ("-" as PID, ps -m) belong to the process above them', () => {
    const out = ['  PID TTY      STAT   TIME COMMAND', '    1 ?        -      0:18 /sbin/init', '    - -        Ssl    0:10 -', '  100 ?        -      0:00 app', '    - -        Sl     0:00 -', '    - -        Sl     0:00 -', ''].join('\n');
    const r = parsePsOutput(out, [100]);
    assert.deepEqual(r.Processes.map((p) => p[0]), ['100', '-', '-']);
  });

  test('no PID column is a clear error; a non-numeric PID names the line', () => {
    assert.throws(() => parsePsOutput('COMMAND\nsleep\n', [1]), (err: unknown) => isBerthError(err, 'BERTH_CONTAINER_TOP_NO_PID') && /Couldn't find PID field in ps output/.test(err.message));
    assert.throws(() => parsePsOutput('PID CMD\nabc sleep\n', [1]), (err: unknown) => isBerthError(err, 'BERTH_CONTAINER_TOP_PS_OUTPUT') && /Unexpected pid 'abc'/.test(err.message));
  });

  test('a container with no processes has titles and no rows', () => {
    assert.deepEqual(parsePsOutput(psEf, []).Processes, []);
  });
});
