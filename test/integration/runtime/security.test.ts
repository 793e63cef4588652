/**
 * The runtime's security properties, each attacked for real:
 * leaked descriptors (CVE-2024-21626 class), overwriting the launcher through
 * /proc/PID/exe (CVE-2019-5736), mount destinations through symlinks
 * (CVE-2021-30465).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { buildNative, CLI, NODE, REPO, cli, makeBundle, makeRuntimeRoot, shArgs } from './harness.ts';
import type { Bundle } from './harness.ts';

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;
let n = 0;

function configure(script: string, patch?: (b: Bundle) => void): void {
  bundle.spec = defaultSpec();
  bundle.spec.process!.terminal = false;
  bundle.spec.process!.args = shArgs(script);
  patch?.(bundle);
  bundle.write();
}

/** berth-runtime with an extra open fd 3 (a host directory), as a careless caller would pass. */
function cliWithHostFd(args: string[], hostDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const fd = openSync(hostDir, constants.O_RDONLY | constants.O_DIRECTORY);
  return new Promise((res) => {
    const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI, '--root', env.root, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr }));
  });
}

/** One "N target" line per open fd of ls itself (its fd 3 is its handle on the listed directory). */
const FD_LIST = "ls -l /proc/self/fd/ | sed -n 's/.* \\([0-9]*\\) -> \\(.*\\)$/\\1 \\2/p'";

describe('berth-runtime security', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
  });
  after(async () => {
    await env.cleanup();
  });

  test('no descriptor beyond stdio reaches the container; --preserve-fds passes exactly what is asked', async () => {
    const secret = join(env.tmp, 'host-secret-dir');
    mkdirSync(secret);
    configure(FD_LIST, (b) => {
      b.spec.process!.cwd = '/tmp';
    });
    const r = await cliWithHostFd(['run', '--bundle', bundle.dir, `fd-${n++}`], secret);
    assert.equal(r.code, 0, r.stderr);
    const fds = r.stdout.split('\n').filter((l) => /^\d+ /.test(l)).map((l) => Number(l.split(' ')[0]));
    // 0-2, plus at most ls's own handle on the directory it lists.
    assert.deepEqual(fds.filter((fd) => fd > 2 && !new RegExp(`^${fd} /proc/\\d+/fd$`, 'm').test(r.stdout)), [], r.stdout);
    assert.deepEqual(fds.slice(0, 3), [0, 1, 2], r.stdout);
    assert.doesNotMatch(r.stdout, /host-secret-dir/);

    const p = await cliWithHostFd(['run', '--preserve-fds', '1', '--bundle', bundle.dir, `fd-${n++}`], secret);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^3 .*host-secret-dir$/m, 'the preserved fd is fd 3 (it names a host path: the caller asked for it)');
  });

  test('the container process starts in its cwd inside the rootfs, never a host directory', async () => {
    configure('readlink /proc/self/cwd; ls /proc/self/cwd/.. >/dev/null && echo parent-ok', (b) => {
      b.spec.process!.cwd = '/tmp';
    });
    const r = await cli(env.root, ['run', '--bundle', bundle.dir, `cwd-${n++}`], { cwd: env.tmp });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '/tmp\nparent-ok\n');
  });

  test('exec: no descriptor of the runtime leaks into the exec process either', async () => {
    const secret = join(env.tmp, 'host-secret-exec');
    mkdirSync(secret);
    configure('exec sleep 1000');
    const id = `exec-fd-${n++}`;
    assert.equal((await cli(env.root, ['run', '-d', '--bundle', bundle.dir, id])).code, 0);
    try {
      const r = await cliWithHostFd(['exec', id, 'sh', '-c', FD_LIST], secret);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /host-secret-exec/);
      const fds = r.stdout.split('\n').filter((l) => /^\d+ /.test(l));
      assert.deepEqual(fds.filter((l) => Number(l.split(' ')[0]) > 2 && !/^\d+ \/proc\/\d+\/fd$/.test(l)), [], r.stdout);
    } finally {
      await cli(env.root, ['delete', '--force', id]);
    }
  });

  test('/proc/PID/exe of a created container is a sealed copy: the launcher binary cannot be overwritten', async () => {
    const launcher = join(REPO, 'native/build/berth-launcher');
    const before = createHash('sha256').update(readFileSync(launcher)).digest('hex');
    configure('exec sleep 1000');
    const id = `exe-${n++}`;
    const pidFile = join(env.tmp, `${id}.pid`);
    assert.equal((await cli(env.root, ['create', '--pid-file', pidFile, '--bundle', bundle.dir, id])).code, 0);
    try {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      // While created, the container process still runs launcher code.
      assert.match(readlinkSync(`/proc/${pid}/exe`), /^\/memfd:berth-launcher/);
      // An attacker keeps a handle on it (as CVE-2019-5736 does) ...
      const held = openSync(`/proc/${pid}/exe`, constants.O_RDONLY);
      assert.throws(() => openSync(`/proc/${pid}/exe`, constants.O_WRONLY), /ETXTBSY|EPERM|EACCES/);
      assert.equal((await cli(env.root, ['start', id])).code, 0);
      // ... and after the exec, when nothing runs it any more, tries to write through it.
      let wrote = false;
      try {
        const w = openSync(`/proc/self/fd/${held}`, constants.O_WRONLY);
        try {
          wrote = writeSync(w, Buffer.from('#!/bin/sh\necho pwned\n')) > 0;
        } catch {
          wrote = false;
        } finally {
          closeSync(w);
        }
      } catch {
        wrote = false;
      }
      closeSync(held);
      assert.equal(wrote, false, 'writing to the launcher through /proc/PID/exe must fail');
      assert.equal(createHash('sha256').update(readFileSync(launcher)).digest('hex'), before);
    } finally {
      await cli(env.root, ['delete', '--force', id]);
    }
  });

  test('a mount destination with a symlink climbing out of the rootfs is refused, naming the field', async () => {
    const hostTarget = join(env.tmp, 'escape-target');
    mkdirSync(hostTarget);
    const depth = bundle.rootfs.split('/').length;
    symlinkSync('../'.repeat(depth) + hostTarget.slice(1), join(bundle.rootfs, 'evil'));
    try {
      configure('true', (b) => {
        b.spec.mounts!.push({ destination: '/evil/sub', type: 'tmpfs', source: 'tmpfs' });
      });
      const r = await cli(env.root, ['run', '--bundle', bundle.dir, `esc-${n++}`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /mounts\[\d+\]\.destination: \/evil\/sub escapes the rootfs through symlink \/evil/);
      assert.deepEqual(readdirSync(hostTarget), []);
      assert.deepEqual(readdirSync(env.root), []);
    } finally {
      await import('node:fs').then((fs) => fs.unlinkSync(join(bundle.rootfs, 'evil')));
    }
  });

  test('an absolute symlink in a mount destination resolves inside the rootfs, never on the host', async () => {
    const hostDir = join(env.tmp, 'abs-target');
    mkdirSync(hostDir);
    const marker = join(env.tmp, 'marker-src');
    mkdirSync(marker);
    await import('node:fs').then((fs) => fs.writeFileSync(join(marker, 'marker'), 'x'));
    symlinkSync(hostDir, join(bundle.rootfs, 'abs'));
    try {
      configure(`ls ${hostDir}/inner`, (b) => {
        b.spec.root!.readonly = false;
        b.spec.mounts!.push({ destination: '/abs/inner', type: 'bind', source: marker, options: ['rbind', 'ro'] });
      });
      const r = await cli(env.root, ['run', '--bundle', bundle.dir, `abs-${n++}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'marker\n');
      assert.equal(existsSync(join(hostDir, 'inner')), false, 'nothing was created on the host');
      assert.equal(existsSync(join(bundle.rootfs, hostDir, 'inner')), true, 'the mount point was made inside the rootfs');
    } finally {
      await import('node:fs').then((fs) => fs.unlinkSync(join(bundle.rootfs, 'abs')));
    }
  });
});
