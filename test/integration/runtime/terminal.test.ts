/**
 * process.terminal: the container gets a pty from its own devpts; the master
 * travels over --console-socket with SCM_RIGHTS (as runc sends it), here to a
 * small Python receiver that reads everything the container writes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { buildNative, cli, makeBundle, makeRuntimeRoot } from './harness.ts';
import type { Bundle } from './harness.ts';

const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
sys.stderr.write("listening\\n"); sys.stderr.flush()
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
sys.stderr.write("name=%s fds=%d\\n" % (msg.decode(), len(fds))); sys.stderr.flush()
if len(sys.argv) > 2: os.write(fds[0], sys.argv[2].encode())
out = b""
while True:
    try: d = os.read(fds[0], 4096)
    except OSError: break
    if not d: break
    out += d
sys.stdout.write(out.decode(errors="replace"))
`;

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;
let n = 0;

function receiver(sock: string, input?: string): { child: ChildProcess; output: Promise<{ out: string; err: string }>; listening: Promise<void> } {
  const child = spawn('python3', ['-c', RECEIVER, sock, ...(input ? [input] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onListen!: () => void;
  const listening = new Promise<void>((r) => (onListen = r));
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
    if (err.includes('listening')) onListen();
  });
  const output = new Promise<{ out: string; err: string }>((r) => child.on('close', () => r({ out, err })));
  return { child, output, listening };
}

describe('berth-runtime: terminal via --console-socket', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
  });
  after(async () => {
    await env.cleanup();
  });

  test('run with terminal: the pty is the container stdio and controlling tty, sized as asked', async () => {
    const sock = join(env.tmp, `console-${n}.sock`);
    const rcv = receiver(sock);
    try {
      await rcv.listening;
      bundle.spec = defaultSpec();
      bundle.spec.process!.terminal = true;
      bundle.spec.process!.consoleSize = { height: 40, width: 100 };
      bundle.spec.process!.args = ['sh', '-c', 'tty; stty size; stat -c %t /dev/console; exit 6'];
      bundle.write();
      // As with runc, a console socket goes with a detached process (run -d, create).
      const id = `tty-${n++}`;
      const r = await cli(env.root, ['run', '-d', '--console-socket', sock, '--bundle', bundle.dir, id]);
      assert.equal(r.code, 0, r.stderr);
      const { out, err } = await rcv.output;
      assert.match(err, /name=\/dev\/ptmx fds=1/);
      assert.equal(out.replace(/\r/g, ''), '/dev/pts/0\n40 100\n88\n');
      await cli(env.root, ['delete', '--force', id]);
    } finally {
      rcv.child.kill();
    }
  });

  test("a console socket without a detached process with a terminal is refused, as runc's checkTerminal", async () => {
    const sock = join(env.tmp, 'never.sock');
    const refused = /cannot use console socket if runc will not detach or allocate tty/;
    bundle.spec = defaultSpec();
    bundle.spec.process!.args = ['true'];
    bundle.write();
    const attached = await cli(env.root, ['run', '--console-socket', sock, '--bundle', bundle.dir, `tty-${n++}`]);
    assert.notEqual(attached.code, 0);
    assert.match(attached.stderr, refused);
    bundle.spec.process!.terminal = false;
    bundle.write();
    for (const cmd of [['create'], ['run', '-d']]) {
      const noTty = await cli(env.root, [...cmd, '--console-socket', sock, '--bundle', bundle.dir, `tty-${n++}`]);
      assert.notEqual(noTty.code, 0);
      assert.match(noTty.stderr, refused);
    }
    bundle.spec.process!.args = ['sleep', '1000'];
    bundle.write();
    const id = `tty-exec-${n++}`;
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, id])).code, 0);
    try {
      for (const flags of [['--tty'], ['-d']]) {
        const e = await cli(env.root, ['exec', ...flags, '--console-socket', sock, id, 'true']);
        assert.equal(e.code, 255, e.stderr);
        assert.match(e.stderr, refused);
      }
    } finally {
      await cli(env.root, ['delete', '--force', id]);
    }
    assert.deepEqual(readdirSync(env.root).filter((d) => d.startsWith('tty-') && !d.startsWith('tty-exec')), []);
  });

  test('exec --tty into a running container reads input from the pty', async () => {
    bundle.spec = defaultSpec();
    bundle.spec.process!.terminal = false;
    bundle.spec.process!.args = ['sleep', '1000'];
    bundle.write();
    const id = `tty-exec-${n++}`;
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, id])).code, 0);
    const sock = join(env.tmp, `console-${n}.sock`);
    const rcv = receiver(sock, 'hello-through-pty\n');
    try {
      await rcv.listening;
      const r = await cli(env.root, ['exec', '-d', '--tty', '--console-socket', sock, id, 'sh', '-c', 'read line; echo "got:$line"; tty']);
      assert.equal(r.code, 0, r.stderr);
      const { out } = await rcv.output;
      assert.match(out.replace(/\r/g, ''), /got:hello-through-pty\n\/dev\/pts\/\d+\n/);
    } finally {
      rcv.child.kill();
      await cli(env.root, ['delete', '--force', id]);
    }
  });

  test('run in the foreground with a terminal and no console socket: the launcher proxies the pty', async () => {
    bundle.spec = defaultSpec();
    bundle.spec.process!.args = ['sh', '-c', 'read x; echo "tty=$(tty) x=$x"; exit 2'];
    bundle.write();
    const r = await cli(env.root, ['run', '--bundle', bundle.dir, `tty-${n++}`], { input: 'typed\n' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout.replace(/\r/g, ''), /tty=\/dev\/pts\/0 x=typed\n/);
  });

  test('terminal without a console socket is a clear error when detached', async () => {
    bundle.spec = defaultSpec();
    bundle.spec.process!.args = ['true'];
    writeFileSync(join(bundle.dir, 'config.json'), JSON.stringify(bundle.spec));
    const r = await cli(env.root, ['create', '--bundle', bundle.dir, `tty-${n++}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /process\.terminal is true: a --console-socket is needed/);
  });
});
