/**
 * berth-runtime as a drop-in runtime for other engines: dockerd 20.10 with
 * --add-runtime and podman with --runtime run busybox containers through it
 * (create/start/state/kill/delete/exec over the runc command line, pty via
 * --console-socket, exit codes). Images come from an offline busybox rootfs.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { startDockerd } from '../../helpers/peers/dockerd.ts';
import type { Dockerd } from '../../helpers/peers/dockerd.ts';
import { startPodman } from '../../helpers/peers/podman.ts';
import type { Podman } from '../../helpers/peers/podman.ts';
import { buildNative, CLI, NODE } from '../../integration/runtime/harness.ts';

let tmp: string;
let runtime: string;
let tar: string;

describe('berth-runtime under other engines', () => {
  before(async () => {
    buildNative();
    tmp = await makeTempDir('berth-rt-e2e-');
    // The runtime from source, as an executable engines can call.
    runtime = join(tmp, 'berth-runtime');
    writeFileSync(runtime, `#!/bin/sh\nexec ${NODE} --disable-warning=ExperimentalWarning ${CLI} "$@"\n`);
    chmodSync(runtime, 0o755);
    tar = join(tmp, 'busybox.tar');
    await makeBusyboxTar(tmp, tar);
  });
  after(async () => {
    await removeTempDir(tmp);
  });

  describe('dockerd --add-runtime berth', () => {
    let d: Dockerd;
    before(async () => {
      d = await startDockerd({ runtimes: { berth: runtime } });
      await d.dockerOk(['import', tar, 'bb:latest']);
    });
    after(async () => {
      await d?.stop();
    });

    test('docker run returns output and the exit status', async () => {
      const r = await d.docker(['run', '--rm', '--runtime', 'berth', '--network', 'none', 'bb', 'sh', '-c', 'echo hello $$ $(hostname | wc -c); exit 3']);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stdout, /^hello 1 13\n$/);
    });

    test('docker run -t gets a pty through the console socket', async () => {
      const r = await d.docker(['run', '--rm', '-t', '--runtime', 'berth', '--network', 'none', 'bb', 'sh', '-c', 'tty; stty size']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\/dev\/pts\/0\r?\n/);
    });

    test('docker run -d, exec, top, pause/unpause, update, kill → 137', async () => {
      const id = (await d.dockerOk(['run', '-d', '--runtime', 'berth', '--network', 'none', 'bb', 'sleep', '1000'])).stdout.trim();
      try {
        const e = await d.docker(['exec', id, 'sh', '-c', 'cat /proc/1/cmdline; exit 5']);
        assert.equal(e.code, 5, e.stderr);
        assert.equal(e.stdout, 'sleep\u00001000\u0000');
        const top = await d.dockerOk(['top', id]);
        assert.match(top.stdout, /sleep 1000/);
        await d.dockerOk(['pause', id]);
        assert.equal((await d.dockerOk(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim(), 'paused');
        await d.dockerOk(['unpause', id]);
        await d.dockerOk(['update', '--memory', '64m', '--memory-swap', '64m', id]);
        await d.dockerOk(['kill', id]);
        const w = await d.dockerOk(['wait', id]);
        assert.equal(w.stdout.trim(), '137');
      } finally {
        await d.docker(['rm', '-f', id]);
      }
    });
  });

  describe('podman --runtime berth-runtime', () => {
    let p: Podman;
    // podman's own seccomp profile applies (it lists setns twice with
    // different actions; the first rule wins, as in libseccomp).
    const SEC: string[] = [];
    before(async () => {
      p = await startPodman({ runtime });
      await p.podmanOk(['import', tar, 'bb:latest']);
    });
    after(async () => {
      await p?.stop();
    });

    test('podman run returns output and the exit status', async () => {
      const r = await p.podman(['run', '--rm', ...SEC, '--network', 'none', 'bb', 'sh', '-c', 'echo hello $$; id -u; exit 4']);
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stdout, 'hello 1\n0\n');
    });

    test('podman run -t and exec', async () => {
      const t = await p.podman(['run', '--rm', '-t', ...SEC, '--network', 'none', 'bb', 'tty']);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /^\/dev\/pts\/0/);
      const id = (await p.podmanOk(['run', '-d', ...SEC, '--network', 'none', 'bb', 'sleep', '1000'])).stdout.trim();
      try {
        const e = await p.podman(['exec', id, 'sh', '-c', 'echo in-$(hostname | wc -c)']);
        assert.equal(e.code, 0, e.stderr);
        assert.match(e.stdout, /^in-\d+\n$/);
      } finally {
        await p.podman(['rm', '-f', '-t', '0', id]);
      }
    });
  });
});
