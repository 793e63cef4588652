/**
 * The pure parts under attach/exec and `run`: Docker's 8-byte stream framing,
 * the detach-key scanner (held-back prefixes are released when they turn out
 * not to be the sequence), --detach-keys parsing, and run/create flags →
 * the create body with Docker's errors for bad values.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { DetachScanner, FrameReader, frame, parseDetachKeys } from '../../../src/api/container-stdio.ts';
import { createRequest, parseMount, parseUlimit, ramInBytes } from '../../../src/cli/commands/container-options.ts';
import { parseFlags } from '../../../src/cli/args.ts';
import { RUN_FLAGS, startFailureCode } from '../../../src/cli/commands/run.ts';
import { withTempDir } from '../../helpers/tmp.ts';

describe('stream framing and detach keys', () => {
  test('frames split across chunks come out whole, in order', () => {
    const bytes = Buffer.concat([frame(1, Buffer.from('hello\n')), frame(2, Buffer.from('err')), frame(1, Buffer.alloc(0))]);
    assert.deepEqual(bytes.subarray(0, 8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 6]));
    const r = new FrameReader();
    const out = [...r.push(bytes.subarray(0, 5)), ...r.push(bytes.subarray(5, 17)), ...r.push(bytes.subarray(17))];
    assert.deepEqual(out.map((f) => [f.stream, f.data.toString()]), [[1, 'hello\n'], [2, 'err'], [1, '']]);
  });

  test('Ctrl-P Ctrl-Q detaches; a lone Ctrl-P is passed on once the next key shows it was not the sequence', () => {
    const s = new DetachScanner(parseDetachKeys(undefined));
    assert.deepEqual(s.push(Buffer.from('ab\x10')), { pass: Buffer.from('ab'), detach: false });
    assert.deepEqual(s.push(Buffer.from('x')), { pass: Buffer.from('\x10x'), detach: false });
    assert.deepEqual(s.push(Buffer.from('\x10\x10\x11rest')), { pass: Buffer.from('\x10'), detach: true });
  });

  test('--detach-keys parsing', () => {
    assert.deepEqual(parseDetachKeys('ctrl-a,x'), Buffer.from([1, 0x78]));
    assert.deepEqual(parseDetachKeys('ctrl-@,ctrl-['), Buffer.from([0, 27]));
    assert.throws(() => parseDetachKeys('ctrl-1'), /Invalid detach keys \(ctrl-1\)/);
    assert.throws(() => parseDetachKeys('alt-x'), /alt-x is not a key/);
  });
});

describe('run/create flags', () => {
  const parse = (argv: string[]) => {
    const p = parseFlags(argv, RUN_FLAGS, 'berth run', false);
    return createRequest(p.flags, p.args, { HOME_VAR: 'from-env' }, { detach: p.flags.detach === true });
  };

  test('Docker-shaped create body', () => {
    const { body, name, image } = parse([
      '--name', 'x', '-e', 'A=1', '-e', 'HOME_VAR', '-e', 'UNSET_VAR', '-v', '/h:/c:ro', '-v', '/anon', '--tmpfs', '/t:size=1m',
      '-m', '64m', '--cpus', '1.5', '--pids-limit', '10', '--restart', 'on-failure:3', '--ulimit', 'nofile=10:20', '-l', 'k=v',
      '--entrypoint', 'sh', '-it', '--init', '--network', 'host', 'busybox', '-c', 'echo',
    ]);
    assert.equal(name, 'x');
    assert.equal(image, 'busybox');
    assert.deepEqual(body.Env, ['A=1', 'HOME_VAR=from-env']);
    assert.deepEqual(body.Entrypoint, ['sh']);
    assert.deepEqual(body.Cmd, ['-c', 'echo']);
    assert.equal(body.Tty, true);
    assert.equal(body.OpenStdin, true);
    assert.equal(body.StdinOnce, true);
    assert.equal(body.AttachStdin, true);
    assert.deepEqual(body.Volumes, { '/anon': {} });
    assert.deepEqual(body.Labels, { k: 'v' });
    const hc = body.HostConfig!;
    assert.deepEqual(hc.Binds, ['/h:/c:ro']);
    assert.deepEqual(hc.Tmpfs, { '/t': 'size=1m' });
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.equal(hc.NanoCpus, 1.5e9);
    assert.equal(hc.PidsLimit, 10);
    assert.deepEqual(hc.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }]);
    assert.equal(hc.Init, true);
    assert.equal(hc.NetworkMode, 'host');
  });

  test('-d attaches nothing; without -i nothing is attached to stdin', () => {
    const d = parse(['-d', 'busybox']).body;
    assert.equal(d.AttachStdout, false);
    assert.equal(d.AttachStdin, false);
    const plain = parse(['busybox']).body;
    assert.equal(plain.AttachStdout, true);
    assert.equal(plain.AttachStderr, true);
    assert.equal(plain.AttachStdin, false);
    assert.equal(plain.StdinOnce, false);
  });

  test('--env-file: comments and blank lines skipped, bare names from the environment, missing file is an error', async () => {
    await withTempDir(async (dir: string) => {
      const f = join(dir, 'env');
      await writeFile(f, '# c\n\nX=1\nHOME_VAR\n  Y=two words\n');
      assert.deepEqual(parse(['--env-file', f, 'busybox']).body.Env, ['X=1', 'HOME_VAR=from-env', 'Y=two words']);
      assert.throws(() => parse(['--env-file', join(dir, 'nope'), 'busybox']), /open .*nope: no such file or directory/);
    }, 'berth-envfile-');
  });

  test('bad values name the flag and the value', () => {
    assert.throws(() => parse(['-m', 'lots', 'busybox']), /invalid argument "lots" for "--memory" flag/);
    assert.throws(() => parse(['--cpus', 'two', 'busybox']), /failed to parse two as a rational number/);
    assert.throws(() => parse(['--restart', 'always:3', 'busybox']), /only on-failure takes a maximum retry count/);
    assert.throws(() => parse(['--rm', '--restart', 'always', 'busybox']), /Conflicting options: --restart and --rm/);
    assert.throws(() => parse(['-v', 'rel:rel', 'busybox']), /mount path must be absolute/);
    assert.throws(() => parse(['-d', '-a', 'stdout', 'busybox']), /Conflicting options: -a and -d/);
    assert.throws(() => parse(['--pids-limit', 'ten', 'busybox']), /invalid argument "ten" for "--pids-limit" flag/);
    assert.throws(() => parseUlimit('nofile=20:10'), /soft limit must be less than or equal to hard limit/);
    assert.throws(() => parseMount('type=nfs,target=/x'), /invalid type: nfs/);
    assert.throws(() => parseMount('type=bind,source=/x'), /target is required/);
    assert.deepEqual(parseMount('type=bind,src=/a,dst=/b,readonly'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true });
    assert.equal(ramInBytes('1g', 'memory'), 1024 ** 3);
  });

  test('exit code of a failed start from the daemon message (as the docker CLI decides it)', () => {
    assert.equal(startFailureCode('exec: "x": executable file not found in $PATH'), 127);
    assert.equal(startFailureCode('exec /etc/passwd: permission denied'), 126);
    assert.equal(startFailureCode('cgroup: operation failed'), 125);
  });
});
