/**
 * The berth CLI's container commands against berthd: run (attached, -d, -i,
 * --rm, -it in a pty), ps, logs, exec, stop, rm, inspect, cp — and Docker's
 * exit codes: 125 engine/usage error, 126 not executable, 127 not found,
 * the container's own code (3), 137 for a killed container.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { NODE, CLI_MAIN } from '../../helpers/daemon.ts';
import { spawn } from 'node:child_process';
import { setup, inPty, type Env } from './helpers.ts';

describe('berth CLI: containers', () => {
  let e: Env;
  before(async () => {
    e = await setup('berth-e2e-ctr-cli-');
  });
  after(async () => {
    await e?.stop();
  });

  test('run: output, the container exit code, 127, 126, 125', async () => {
    const hi = await e.berth('run', '--rm', 'busybox', 'sh', '-c', 'echo hi; echo warn >&2');
    assert.equal(hi.code, 0, hi.stderr);
    assert.equal(hi.stdout, 'hi\n');
    assert.equal(hi.stderr, 'warn\n');
    assert.equal((await e.berth('run', '--rm', 'busybox', 'sh', '-c', 'exit 3')).code, 3);
    const notFound = await e.berth('run', '--rm', 'busybox', 'no-such-binary');
    assert.equal(notFound.code, 127);
    assert.match(notFound.stderr, /no-such-binary/);
    assert.equal((await e.berth('run', '--rm', 'busybox', '/etc/passwd')).code, 126);
    const badFlag = await e.berth('run', '--memory', 'lots', 'busybox', 'true');
    assert.equal(badFlag.code, 125);
    assert.match(badFlag.stderr, /invalid argument "lots" for "--memory" flag/);
    const unknownFlag = await e.berth('run', '--no-such-flag', 'busybox');
    assert.equal(unknownFlag.code, 125);
    const noImage = await e.berth('run', '--pull', 'never', 'nosuchimage:1', 'true');
    assert.equal(noImage.code, 125);
    assert.match(noImage.stderr, /No such image/);
    // Nothing left behind by the --rm runs, failed starts included.
    assert.equal((await e.berth('ps', '-aq')).stdout, '');
  });

  test('run -i: stdin reaches the container; run -e/-w/-u/--env-file/--entrypoint/--read-only', async () => {
    const r = await e.berthIn('a\nb\nc\n', 'run', '-i', '--rm', 'busybox', 'sh', '-c', 'wc -l');
    assert.equal(r.stdout.trim(), '3');
    await writeFile(join(e.work, 'env.list'), '# comment\nFROM_FILE=yes\n');
    const opts = await e.berth('run', '--rm', '-e', 'A=1', '--env-file', join(e.work, 'env.list'), '-w', '/tmp', '-u', '65534', '--entrypoint', 'sh', 'busybox', '-c', 'echo $A $FROM_FILE $(pwd) $(id -u)');
    assert.equal(opts.stdout, '1 yes /tmp 65534\n', opts.stderr);
    const ro = await e.berth('run', '--rm', '--read-only', 'busybox', 'touch', '/x');
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /Read-only file system/);
  });

  test('run -it in a pseudo-terminal', async () => {
    const r = await inPty([NODE, '--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', e.d.host, 'run', '-it', '--rm', 'busybox', 'sh'], [
      { afterMs: 2000, send: 'echo tty-$((2+3))\r' },
      { afterMs: 800, send: 'exit 4\r' },
    ], {});
    assert.equal(r.code, 4, r.output);
    assert.match(r.output, /tty-5\r\n/);
    assert.doesNotMatch(r.output, /\r\r\n/);
  });

  test('run -it: Ctrl-P Ctrl-Q detaches and leaves the container running', async () => {
    const r = await inPty([NODE, '--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', e.d.host, 'run', '-it', '--name', 'detachable', 'busybox', 'sh'], [
      { afterMs: 2000, send: 'echo before\r' },
      { afterMs: 600, send: '\x10\x11' },
    ], {});
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /before\r\n/);
    assert.equal((await e.berth('inspect', '-f', '{{.State.Running}}', 'detachable')).stdout, 'true\n');
    assert.equal((await e.berth('rm', '-f', 'detachable')).code, 0);
  });

  test('run --sig-proxy: a signal to the CLI reaches the container; its exit code comes back', async () => {
    const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', e.d.host, 'run', '--rm', 'busybox', 'sh', '-c', 'trap "echo got-term; exit 21" TERM; echo ready; while true; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const ready = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    try {
      await ready;
      process.kill(child.pid!, 'SIGTERM');
      assert.equal(await exited, 21);
      assert.equal(out, 'ready\ngot-term\n');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('run -d, ps, logs, exec, inspect, stop (137), rm', async () => {
    const id = (await e.berth('run', '-d', '--name', 'svc', '-l', 'tier=test', 'busybox', 'sh', '-c', 'echo ready; exec sleep 300')).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await e.berth('ps');
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)}   busybox   "sh -c 'echo ready; …"   .+ ago +Up .+ +svc\\n`, 'm'));
    assert.equal((await e.berth('ps', '--filter', 'label=tier=test', '--format', '{{.Names}} {{.State}} {{.Labels}}')).stdout, 'svc running tier=test\n');
    assert.equal((await e.berth('ps', '-q', '--no-trunc')).stdout, `${id}\n`);
    let logs = await e.berth('logs', 'svc');
    for (let i = 0; i < 40 && logs.stdout === ''; i++) logs = await e.berth('logs', 'svc');
    assert.equal(logs.stdout, 'ready\n');
    const ex = await e.berth('exec', 'svc', 'sh', '-c', 'echo in-exec; exit 3');
    assert.equal(ex.code, 3);
    assert.equal(ex.stdout, 'in-exec\n');
    assert.equal((await e.berthIn('piped\n', 'exec', '-i', 'svc', 'cat')).stdout, 'piped\n');
    assert.equal((await e.berth('exec', 'svc', 'no-such-binary')).code, 126);
    assert.equal((await e.berth('inspect', '-f', '{{.State.Status}} {{.Config.Labels.tier}}', 'svc')).stdout, 'running test\n');
    const both = await e.berth('inspect', '-f', '{{.Id}}', 'svc', 'busybox');
    assert.equal(both.stdout.split('\n')[0], id);
    assert.match(both.stdout.split('\n')[1]!, /^sha256:/);
    assert.equal((await e.berth('inspect', 'nothing-here')).code, 1);
    await writeFile(join(e.work, 'cp-in.txt'), 'copied\n');
    assert.equal((await e.berth('cp', join(e.work, 'cp-in.txt'), 'svc:/tmp/')).code, 0);
    assert.equal((await e.berth('exec', 'svc', 'cat', '/tmp/cp-in.txt')).stdout, 'copied\n');
    assert.equal((await e.berth('cp', 'svc:/tmp/cp-in.txt', join(e.work, 'cp-out.txt'))).code, 0);
    assert.equal(await readFile(join(e.work, 'cp-out.txt'), 'utf8'), 'copied\n');
    const stop = await e.berth('stop', '-t', '1', 'svc');
    assert.equal(stop.stdout, 'svc\n');
    assert.equal((await e.berth('wait', 'svc')).stdout, '137\n');
    assert.match((await e.berth('ps', '-a', '--format', '{{.Names}} {{.Status}}')).stdout, /^svc Exited \(137\) /m);
    assert.equal((await e.berth('rm', 'svc')).stdout, 'svc\n');
    const gone = await e.berth('rm', 'svc');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Error response from daemon: No such container: svc/);
  });

  test('create + start -a, kill exit code, container prune', async () => {
    const id = (await e.berth('create', '--name', 'later', 'busybox', 'sh', '-c', 'echo started-later; exit 3')).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const start = await e.berth('start', '-a', 'later');
    assert.equal(start.code, 3);
    assert.equal(start.stdout, 'started-later\n');
    await e.berth('run', '-d', '--name', 'victim', 'busybox', 'sleep', '300');
    assert.equal((await e.berth('kill', 'victim')).stdout, 'victim\n');
    assert.equal((await e.berth('wait', 'victim')).stdout, '137\n');
    const prune = await e.berth('container', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /^Deleted Containers:\n/);
    assert.equal((await e.berth('ps', '-aq')).stdout, '');
  });
});
