import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { topProcesses } from '../../../src/container/top.ts';
import { isBerthError } from '../../../src/common/errors.ts';

describe('docker top against real processes', () => {
  const children: ChildProcess[] = [];
  let pids: number[] = [];
  before(() => {
    // Our own children stand in for a container's processes (the caller reads these from the cgroup).
    for (const secs of ['301', '302']) {
      const c = spawn('/bin/busybox', ['sleep', secs], { stdio: 'ignore' });
      children.push(c);
    }
    pids = children.map((c) => c.pid!);
  });
  after(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGKILL');
        await gone;
      }
    }
  });

  test('default -ef: Docker titles and exactly the given processes', async () => {
    const r = await topProcesses(pids);
    assert.deepEqual(r.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(r.Processes.map((p) => Number(p[1])).sort(), [...pids].sort());
    const cmds = r.Processes.map((p) => p[7]).sort();
    assert.deepEqual(cmds, ['/bin/busybox sleep 301', '/bin/busybox sleep 302']);
    assert.equal(Number(r.Processes[0]![2]), process.pid, 'PPID is this test process');
  });

  test('user ps arguments: aux and -o with pid renamed the allowed way', async () => {
    const aux = await topProcesses(pids, 'aux');
    assert.equal(aux.Titles[1], 'PID');
    assert.equal(aux.Titles.at(-1), 'COMMAND');
    assert.equal(aux.Processes.length, 2);
    const custom = await topProcesses([pids[0]!], '-o pid,comm');
    assert.deepEqual(custom, { Titles: ['PID', 'COMMAND'], Processes: [[String(pids[0]), 'busybox']] });
  });

  test('bad ps arguments: no PID column, renaming PID, and an option ps refuses', async () => {
    await assert.rejects(topProcesses(pids, '-o comm'), (err: unknown) => isBerthError(err, 'BERTH_CONTAINER_TOP_NO_PID'));
    await assert.rejects(topProcesses(pids, '-o user=PID'), (err: unknown) => isBerthError(err, 'BERTH_CONTAINER_TOP_ARGS') && err.status === 400 && /specifying "user=PID" is not allowed/.test(err.message));
    await assert.rejects(topProcesses(pids, '--no-such-option'), (err: unknown) => isBerthError(err, 'BERTH_CONTAINER_TOP_PS') && /^ps: /.test(err.message));
  });
});
