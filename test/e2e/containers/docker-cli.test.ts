/**
 * The real docker CLI (/usr/local/bin/docker 28) against berthd: the
 * container lifecycle as a user sees it — output, exit codes, tables,
 * streams — including `run -it` in a pseudo-terminal and `docker cp` through
 * a symlink that points out of the container (must not touch the host).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setup, inPty, DOCKER, type Env } from './helpers.ts';

describe('docker CLI: containers on berthd', () => {
  let e: Env;
  before(async () => {
    e = await setup('berth-e2e-ctr-docker-');
  });
  after(async () => {
    await e?.stop();
  });

  test('run attached prints the output and exits with the container code; --rm leaves nothing', async () => {
    const r = await e.docker('run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const three = await e.docker('run', '--name', 'three', 'busybox', 'sh', '-c', 'exit 3');
    assert.equal(three.code, 3);
    const ps = await e.docker('ps', '-a', '--format', '{{.Names}} {{.Status}}');
    assert.match(ps.stdout, /^three Exited \(3\) (Less than a second|\d+ seconds?) ago$/m);
    assert.doesNotMatch(ps.stdout, /out/);
    assert.equal((await e.docker('rm', 'three')).stdout, 'three\n');
  });

  test('run: stdin piped with -i reaches the container and EOF ends it', async () => {
    const r = await e.dockerIn('line1\nline2\n', 'run', '-i', '--rm', 'busybox', 'sh', '-c', 'wc -l; echo done');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.replace(/ +/g, ''), '2\ndone\n');
  });

  test('stdin larger than a pipe reaches a slow reader whole (run -i and exec -i), output still comes back', async () => {
    // 1 MiB of lines, far beyond the 64 KiB a pipe holds; the container only
    // starts reading after a pause, so the input must wait, not be dropped.
    const input = Array.from({ length: 16384 }, (_, i) => `${String(i).padStart(63, '0')}\n`).join('');
    const run = await e.dockerIn(input, 'run', '-i', '--rm', 'busybox', 'sh', '-c', 'sleep 0.5; wc -c; echo after-eof');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.replace(/ +/g, ''), `${input.length}\nafter-eof\n`);
    assert.equal((await e.docker('run', '-d', '-i', '--name', 'slowin', 'busybox', 'sleep', '60')).code, 0);
    const ex = await e.dockerIn(input, 'exec', '-i', 'slowin', 'sh', '-c', 'sleep 0.5; md5sum');
    assert.equal(ex.code, 0, ex.stderr);
    const { createHash } = await import('node:crypto');
    assert.equal(ex.stdout.split(' ')[0], createHash('md5').update(input).digest('hex'));
    await e.docker('rm', '-f', 'slowin');
  });

  test('-w creates a missing directory; --entrypoint "" runs the command alone; bad limits are refused at create; exec as an unknown user is 126', async () => {
    const wd = await e.docker('run', '--rm', '-w', '/tmp/new/dir', '-u', '1000', 'busybox', 'sh', '-c', 'pwd; stat -c %u:%a /tmp/new');
    assert.equal(wd.code, 0, wd.stderr);
    assert.equal(wd.stdout, '/tmp/new/dir\n0:755\n', 'a missing working directory is created (owned by root, as Docker does)');
    // The primary group is also a supplementary group (dockerd's CVE-2022-36109 fix).
    assert.match((await e.docker('run', '--rm', 'busybox', 'id')).stdout, /^uid=0\(root\) gid=0\(root\) groups=0\(root\)/);
    assert.equal((await e.docker('run', '--rm', '-u', '1000:1000', 'busybox', 'id', '-G')).stdout, '1000\n');
    const ep = await e.docker('run', '--rm', '--entrypoint', '', 'busybox', 'echo', 'hi');
    assert.equal(ep.code, 0, ep.stderr);
    assert.equal(ep.stdout, 'hi\n');
    const mem = await e.docker('run', '--rm', '-m', '1k', 'busybox', 'true');
    assert.equal(mem.code, 125);
    assert.match(mem.stderr, /Minimum memory limit allowed is 6MB/);
    const cpus = await e.docker('create', '--cpuset-cpus', '4096', 'busybox', 'true');
    assert.equal(cpus.code, 1, 'docker create exits 1 on a daemon error');
    assert.match(cpus.stderr, /Requested CPUs are not available - requested 4096/);
    assert.equal((await e.docker('run', '-d', '--name', 'users', 'busybox', 'sleep', '60')).code, 0);
    const ex = await e.docker('exec', '-u', 'nosuch', 'users', 'id');
    assert.equal(ex.code, 126, ex.stdout + ex.stderr);
    assert.match(ex.stdout + ex.stderr, /nosuch/);
    await e.docker('rm', '-f', 'users');
  });

  test('--pid/--ipc container:<x> share that container\'s namespaces; --uts host and --network host use the host\'s name; -p warns', async () => {
    const { hostname } = await import('node:os');
    assert.equal((await e.docker('run', '-d', '--name', 'nsowner', 'busybox', 'sleep', '60')).code, 0);
    const ns = (r: { stdout: string }) => r.stdout.trim();
    const ownerIpc = ns(await e.docker('exec', 'nsowner', 'readlink', '/proc/self/ns/ipc'));
    const shared = await e.docker('run', '--rm', '--pid', 'container:nsowner', '--ipc', 'container:nsowner', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/ipc; ps -o args | grep -c "^sleep 60"');
    assert.equal(shared.code, 0, shared.stderr);
    assert.equal(shared.stdout, `${ownerIpc}\n1\n`, 'same ipc namespace; the other container\'s sleep is visible');
    const missing = await e.docker('run', '--rm', '--pid', 'container:nosuch', 'busybox', 'true');
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /No such container: nosuch/);
    assert.equal((await e.docker('run', '--rm', '--uts', 'host', 'busybox', 'hostname')).stdout, `${hostname()}\n`);
    assert.equal((await e.docker('run', '--rm', '--network', 'host', 'busybox', 'hostname')).stdout, `${hostname()}\n`);
    const conflictRun = await e.docker('run', '--rm', '--uts', 'host', '-h', 'x', 'busybox', 'true');
    assert.equal(conflictRun.code, 125);
    assert.match(conflictRun.stderr, /Conflicting options: hostname and the UTS mode/);
    const ports = await e.docker('run', '--rm', '-p', '127.0.0.1:18080:80', 'busybox', 'true');
    assert.equal(ports.code, 0, ports.stderr);
    assert.match(ports.stderr, /WARNING: Published ports are discarded/);
    await e.docker('rm', '-f', 'nsowner');
  });

  test('run missing command: 127; not executable: 126; bad flag value: 125', async () => {
    assert.equal((await e.docker('run', '--rm', 'busybox', 'no-such-command')).code, 127);
    assert.equal((await e.docker('run', '--rm', 'busybox', '/etc/passwd')).code, 126);
    const bad = await e.docker('run', '--rm', '--restart', 'sometimes', 'busybox', 'true');
    assert.equal(bad.code, 125);
  });

  test('run -it in a pseudo-terminal: a working shell, its exit code', async () => {
    const r = await inPty([DOCKER, 'run', '-it', '--rm', 'busybox', 'sh'], [
      { afterMs: 1500, send: 'echo pty-$((6*7)); tty\r' },
      { afterMs: 800, send: 'exit 7\r' },
    ], { DOCKER_HOST: e.d.host, DOCKER_CONFIG: join(e.work, 'docker-config') });
    assert.equal(r.code, 7, r.output);
    assert.match(r.output, /pty-42\r\n/);
    assert.match(r.output, /\/dev\/pts\/0/);
  });

  test('run -it: Ctrl-P Ctrl-Q detaches (the daemon sees the keys), the container keeps running', async () => {
    const r = await inPty([DOCKER, 'run', '-it', '--name', 'detach-me', 'busybox', 'sh'], [
      { afterMs: 1500, send: 'echo before\r' },
      { afterMs: 600, send: '\x10\x11' },
    ], { DOCKER_HOST: e.d.host, DOCKER_CONFIG: join(e.work, 'docker-config') });
    assert.equal(r.code, 0, r.output);
    assert.equal((await e.docker('inspect', '-f', '{{.State.Running}}', 'detach-me')).stdout, 'true\n');
    const attached = await inPty([DOCKER, 'attach', 'detach-me'], [
      { afterMs: 1000, send: 'echo back-again\r' },
      { afterMs: 600, send: 'exit 2\r' },
    ], { DOCKER_HOST: e.d.host, DOCKER_CONFIG: join(e.work, 'docker-config') });
    assert.match(attached.output, /back-again\r\n/);
    assert.equal(attached.code, 2, attached.output);
    await e.docker('rm', 'detach-me');
  });

  test('run -d, ps, logs, logs -f, exec (with stdin), inspect, top, stats', async () => {
    const id = (await e.docker('run', '-d', '--name', 'web', '-e', 'GREETING=hello', 'busybox', 'sh', '-c', 'echo $GREETING; echo oops >&2; exec sleep 300')).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await e.docker('ps');
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)}   busybox   "sh -c 'echo \\$GREETI…"   .+   Up .+   web\\n`, 'm'));
    let logs = await e.docker('logs', 'web');
    for (let i = 0; i < 50 && logs.stdout === ''; i++) logs = await e.docker('logs', 'web');
    assert.equal(logs.stdout, 'hello\n');
    assert.equal(logs.stderr, 'oops\n');
    const ts = await e.docker('logs', '-t', '--tail', '1', 'web');
    assert.match(ts.stdout + ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (hello|oops)\n$/);
    const ex = await e.docker('exec', 'web', 'sh', '-c', 'echo $GREETING from exec; exit 4');
    assert.equal(ex.code, 4);
    assert.equal(ex.stdout, 'hello from exec\n');
    const exIn = await e.dockerIn('abc\n', 'exec', '-i', 'web', 'cat');
    assert.equal(exIn.stdout, 'abc\n');
    const execIds = JSON.parse((await e.docker('inspect', '-f', '{{json .ExecIDs}}', 'web')).stdout) as string[] | null;
    assert.ok(Array.isArray(execIds) && execIds.length >= 2, `ExecIDs lists the execs: ${JSON.stringify(execIds)}`);
    const exTty = await inPty([DOCKER, 'exec', '-it', 'web', 'sh'], [
      { afterMs: 1000, send: 'echo in-exec-tty $GREETING\r' },
      { afterMs: 500, send: 'exit 5\r' },
    ], { DOCKER_HOST: e.d.host, DOCKER_CONFIG: join(e.work, 'docker-config') });
    assert.match(exTty.output, /in-exec-tty hello\r\n/);
    assert.equal(exTty.code, 5, exTty.output);
    const inspect = await e.docker('inspect', '--format', '{{.Name}} {{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.HostConfig.NetworkMode}} {{.RestartCount}} {{len .Args}}', 'web');
    assert.equal(inspect.stdout, '/web running true busybox none 0 2\n');
    const full = JSON.parse((await e.docker('inspect', 'web')).stdout) as Array<Record<string, unknown>>;
    for (const key of ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name', 'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings']) {
      assert.ok(key in full[0]!, `inspect has ${key}`);
    }
    const top = await e.docker('top', 'web');
    assert.match(top.stdout, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/);
    assert.match(top.stdout, /sleep 300\n/);
    const stats = await e.docker('stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'web');
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^web 1 [\d.]+[KMG]?i?B \/ [\d.]+[KMG]iB\n$/);
    const update = await e.docker('update', '--memory', '96m', '--pids-limit', '25', 'web');
    assert.equal(update.code, 0, update.stderr);
    assert.equal((await e.docker('inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}', 'web')).stdout, `${96 * 1024 * 1024} 25\n`);
    const memFile = `/sys/fs/cgroup/memory/berth/${id}/memory.limit_in_bytes`;
    if (existsSync(memFile)) assert.equal(readFileSync(memFile, 'utf8').trim(), String(96 * 1024 * 1024));
    const pidsFile = `/sys/fs/cgroup/pids/berth/${id}/pids.max`;
    if (existsSync(pidsFile)) assert.equal(readFileSync(pidsFile, 'utf8').trim(), '25');
  });

  test('logs -f follows until the container exits', async () => {
    await e.docker('run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo n$i; sleep 0.3; done');
    const r = await e.docker('logs', '-f', 'counter');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'n1\nn2\nn3\n');
    await e.docker('rm', 'counter');
  });

  test('cp both ways; a symlink pointing at a host path is resolved inside the container', async () => {
    const victim = join(e.work, 'victim');
    await mkdir(victim);
    await e.docker('run', '-d', '--name', 'cpbox', 'busybox', 'sh', '-c', `mkdir -p /data && ln -s ${victim} /data/escape && ln -s / /data/root && exec sleep 300`);
    await new Promise((r) => setTimeout(r, 500));
    await writeFile(join(e.work, 'in.txt'), 'from host\n');
    assert.equal((await e.docker('cp', join(e.work, 'in.txt'), 'cpbox:/data/')).code, 0);
    assert.equal((await e.docker('exec', 'cpbox', 'cat', '/data/in.txt')).stdout, 'from host\n');
    const out = await e.docker('cp', 'cpbox:/etc/passwd', join(e.work, 'passwd.out'));
    assert.equal(out.code, 0, out.stderr);
    assert.match(await readFile(join(e.work, 'passwd.out'), 'utf8'), /^root:x:0:0:/);
    // Through the symlinks: the writes land in the container, never on the host.
    await e.docker('cp', join(e.work, 'in.txt'), 'cpbox:/data/escape/evil.txt');
    await e.docker('cp', join(e.work, 'in.txt'), `cpbox:/data/root${victim}/evil2.txt`);
    assert.deepEqual(await readdir(victim), []);
    await e.docker('rm', '-f', 'cpbox');
  });

  test('stop (SIGTERM ignored → SIGKILL after -t), kill -s, wait, restart, pause/unpause, rename', async () => {
    await e.docker('run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300');
    const stop = await e.docker('stop', '-t', '1', 'sleeper');
    assert.equal(stop.stdout, 'sleeper\n');
    assert.equal((await e.docker('inspect', '-f', '{{.State.ExitCode}}', 'sleeper')).stdout, '137\n');
    assert.equal((await e.docker('wait', 'sleeper')).stdout, '137\n');
    const again = await e.docker('stop', 'sleeper');
    assert.equal(again.code, 0);
    await e.docker('run', '-d', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "echo got-usr1; exit 9" USR1; while true; do sleep 0.1; done');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await e.docker('kill', '-s', 'USR1', 'trapper')).code, 0);
    assert.equal((await e.docker('wait', 'trapper')).stdout, '9\n');
    assert.equal((await e.docker('logs', 'trapper')).stdout, 'got-usr1\n');
    assert.equal((await e.docker('restart', '-t', '0', 'sleeper')).stdout, 'sleeper\n');
    assert.equal((await e.docker('inspect', '-f', '{{.State.Running}}', 'sleeper')).stdout, 'true\n');
    assert.equal((await e.docker('pause', 'sleeper')).code, 0);
    assert.match((await e.docker('ps', '--format', '{{.Names}} {{.Status}}')).stdout, /sleeper Up .* \(Paused\)/);
    assert.equal((await e.docker('unpause', 'sleeper')).code, 0);
    assert.equal((await e.docker('rename', 'sleeper', 'napper')).code, 0);
    assert.equal((await e.docker('inspect', '-f', '{{.Name}}', 'napper')).stdout, '/napper\n');
    const killed = await e.docker('kill', 'napper');
    assert.equal(killed.stdout, 'napper\n');
    assert.equal((await e.docker('wait', 'napper')).stdout, '137\n');
    const rmRunning = await e.docker('run', '-d', '--name', 'busy', 'busybox', 'sleep', '300');
    assert.equal(rmRunning.code, 0);
    const refused = await e.docker('rm', 'busy');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /container is running: stop the container before removing or force remove/);
    assert.equal((await e.docker('rm', '-f', 'busy', 'napper', 'trapper')).code, 0);
    const missing = await e.docker('rm', 'no-such');
    assert.match(missing.stderr, /No such container: no-such/);
  });

  test('diff, commit (new image runs the change), export', async () => {
    await e.docker('run', '--name', 'changer', 'busybox', 'sh', '-c', 'echo made > /made.txt; rm /etc/group');
    const diff = await e.docker('diff', 'changer');
    assert.equal(diff.stdout, 'C /etc\nD /etc/group\nA /made.txt\n');
    const commit = await e.docker('commit', '-c', 'CMD ["cat", "/made.txt"]', 'changer', 'changed:v1');
    assert.equal(commit.code, 0, commit.stderr);
    assert.match(commit.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal((await e.docker('run', '--rm', 'changed:v1')).stdout, 'made\n');
    const tarPath = join(e.work, 'export.tar');
    assert.equal((await e.docker('export', '-o', tarPath, 'changer')).code, 0);
    const names = execFileSync('tar', ['-tf', tarPath], { encoding: 'utf8' }).split('\n');
    assert.ok(names.includes('made.txt'));
    assert.ok(!names.includes('etc/group'));
    await e.docker('rm', 'changer');
  });

  test('events show the lifecycle of a container', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await e.docker('run', '--rm', '--name', 'evented', 'busybox', 'true');
    const until = Math.ceil(Date.now() / 1000) + 1;
    const r = await e.docker('events', '--since', String(since), '--until', String(until), '--filter', 'container=evented', '--format', '{{.Action}}');
    assert.deepEqual(r.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die', 'destroy'].filter((a) => r.stdout.includes(a)));
    for (const a of ['create', 'start', 'die', 'destroy']) assert.match(r.stdout, new RegExp(`^${a}$`, 'm'));
  });

  test('docker info counts containers; system df lists them', async () => {
    await e.docker('create', '--name', 'idle', 'busybox', 'true');
    const info = await e.docker('info', '--format', '{{.Containers}} {{.ContainersStopped}}');
    assert.match(info.stdout, /^[1-9]\d* [1-9]\d*\n$/);
    const df = await e.docker('system', 'df');
    assert.equal(df.code, 0, df.stderr);
    assert.match(df.stdout, /^Containers\s+[1-9]/m);
    await e.docker('rm', 'idle');
  });
});
