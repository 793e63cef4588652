/**
 * Daemon autostart: with nothing on the DEFAULT socket the CLI starts berthd
 * itself (detached, logging to <data root>/berthd.log). The default socket
 * lives in /run, so the test runs the CLI in a private mount namespace with
 * its own tmpfs on /run: the host's /run/berth is never touched. The daemon
 * the CLI started is stopped by the PID it wrote.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { NODE, CLI_MAIN } from '../../helpers/daemon.ts';

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CLI autostarts berthd on the default socket only', () => {
  const dirs: string[] = [];
  const pids: number[] = [];
  after(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of dirs) await removeTempDir(d);
  });

  test('no daemon on the default socket → berth starts one and answers', async () => {
    const dir = await makeTempDir('berth-autostart-');
    dirs.push(dir);
    const root = join(dir, 'root');
    const script = `mount -t tmpfs tmpfs /run && exec "$0" --disable-warning=ExperimentalWarning "$1" version`;
    // No BERTH_HOST / DOCKER_HOST: the CLI must use (and autostart on) the default socket.
    const { BERTH_HOST: _b, DOCKER_HOST: _d, ...inherited } = process.env;
    const env = { ...inherited, BERTH_ROOT: root };
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, NODE, CLI_MAIN], env);
    const pid = Number((await readFile(join(root, 'run/berthd.pid'), 'utf8').catch(() => '0')).trim());
    if (pid > 0) pids.push(pid);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Server: berth\n Engine:\n  Version: /);
    assert.ok(pid > 0 && alive(pid), 'the started berthd keeps running after the CLI exits');
    const log = await readFile(join(root, 'berthd.log'), 'utf8');
    assert.match(log, /serving the Engine API on unix:\/\/\/run\/berth\/berth.sock/);
    // Stop it by its PID and see it clean up.
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r2) => setTimeout(r2, 50));
    assert.ok(!alive(pid));
    await assert.rejects(access(join(root, 'run/berthd.lock')));
  });

  test('an explicit -H with nothing listening is an error, and nothing is started', async () => {
    const dir = await makeTempDir('berth-autostart-');
    dirs.push(dir);
    const root = join(dir, 'root');
    const sock = join(dir, 'none.sock');
    const r = await run(NODE, ['--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', `unix://${sock}`, 'images'], { ...process.env, BERTH_ROOT: root });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Cannot connect to the berth daemon at unix://${sock}. Is berthd running?\n`);
    await assert.rejects(access(join(root, 'run/berthd.pid')));
    await assert.rejects(access(sock));
  });
});
