/**
 * The berth CLI where an audit found it unlike the docker CLI, checked
 * against a private berthd (and, where the daemon is what matters, with the
 * docker CLI 28 beside it): ps filters, formats and sizes, events (their
 * template fields and the actions dockerd reports), broken pipes, and the
 * smaller commands' edges.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, runCommand, berthCommand, inPty, DOCKER, type Env } from './helpers.ts';

describe('berth CLI against docker CLI behaviour', () => {
  let e: Env;
  before(async () => {
    e = await setup('berth-e2e-cli-audit-');
  });
  after(async () => {
    await e?.stop();
  });

  /** Seconds since the epoch with a fraction, as --since/--until take them. */
  const now = () => (Date.now() / 1000).toFixed(3);
  /** The actions berthd reported between two times (berth events --until ends the stream). */
  async function actions(since: string, filter: string[] = []): Promise<string[]> {
    const r = await e.berth('events', '--since', since, '--until', now(), ...filter.flatMap((f) => ['--filter', f]), '--format', '{{.Type}} {{.Action}}');
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  }

  test('ps: status filter checked as dockerd, name regex with the leading slash, {{.Label "k"}}, a fresh container is 0B', async () => {
    const run = await e.berth('run', '-d', '--name', 'ps-web', '-l', 'com.example.tier=front', '--tmpfs', '/scratch', 'busybox', 'sleep', '1000');
    assert.equal(run.code, 0, run.stderr);
    const bogus = await e.berth('ps', '-f', 'status=bogus');
    assert.equal(bogus.code, 1);
    assert.equal(bogus.stdout, '');
    assert.equal(bogus.stderr, "Error response from daemon: invalid filter 'status=bogus'\n");
    assert.equal((await e.docker('ps', '-f', 'status=bogus')).stderr, bogus.stderr);
    for (const f of ['name=^/ps-web$', 'name=^ps-web$', 'name=s-w']) {
      assert.equal((await e.berth('ps', '-f', f, '--format', '{{.Names}}')).stdout, 'ps-web\n', f);
      assert.equal((await e.docker('ps', '-f', f, '--format', '{{.Names}}')).stdout, 'ps-web\n', f);
    }
    const label = await e.berth('ps', '-f', 'name=ps-web', '--format', '{{.Label "com.example.tier"}}|{{.Labels}}|{{.Mounts}}|{{.Size}}');
    assert.equal(label.code, 0, label.stderr);
    assert.match(label.stdout, /^front\|com\.example\.tier=front\|\|0B \(virtual [\d.]+[kM]B\)\n$/);
    const docker = await e.docker('ps', '-f', 'name=ps-web', '--format', '{{.Label "com.example.tier"}}|{{.Labels}}|{{.Mounts}}|{{.Size}}');
    assert.equal(docker.stdout, label.stdout);
    const table = await e.berth('ps', '-f', 'name=ps-web', '--format', 'table {{.Names}}\t{{.Label "com.example.tier"}}');
    assert.equal(table.stdout, (await e.docker('ps', '-f', 'name=ps-web', '--format', 'table {{.Names}}\t{{.Label "com.example.tier"}}')).stdout);
    const sized = await e.berth('ps', '-s', '-f', 'name=ps-web');
    assert.match(sized.stdout, /\n[0-9a-f]{12} .* ps-web +0B \(virtual [\d.]+[kM]B\)\n$/);
    assert.equal((await e.berth('rm', '-f', 'ps-web')).code, 0);
  });

  test('events: --format sees Status, ID, From; update, commit (and its tag), attach, exec and the kills of a stop are reported in dockerd\'s order', async () => {
    const since = now();
    const id = (await e.berth('run', '-d', '--name', 'ev-web', 'busybox', 'sleep', '1000')).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await e.berth('exec', 'ev-web', 'true')).code, 0);
    assert.equal((await e.berth('update', '--cpu-shares', '512', 'ev-web')).code, 0);
    assert.equal((await e.berth('commit', 'ev-web', 'ev-image:1')).code, 0);
    assert.equal((await e.berth('stop', '-t', '1', 'ev-web')).code, 0);
    assert.equal((await e.berth('rm', 'ev-web')).code, 0);
    assert.equal((await e.berth('run', '--rm', 'busybox', 'true')).code, 0);
    const seen = await actions(since);
    const tagAt = seen.indexOf('image tag');
    assert.deepEqual(seen.slice(0, tagAt), [
      'container create',
      'container start',
      'container exec_create: true',
      'container exec_start: true',
      'container exec_die',
      'container update',
      'container pause',
    ]);
    assert.deepEqual(seen.slice(tagAt), [
      'image tag',
      'container commit',
      'container unpause',
      // stop: SIGTERM (sleep as pid 1 ignores it), SIGKILL after the timeout, then die and stop.
      'container kill',
      'container kill',
      'container die',
      'container stop',
      'container destroy',
      // an attached run: attach before start.
      'container create',
      'container attach',
      'container start',
      'container die',
      'container destroy',
    ]);
    const fields = await e.berth('events', '--since', since, '--until', now(), '--filter', 'event=commit', '--format', '{{.Status}} {{.ID}} {{.From}} {{.Actor.Attributes.imageRef}}');
    assert.equal(fields.stdout, `commit ${id} busybox ev-image:1\n`);
    assert.equal(
      (await e.docker('events', '--since', since, '--until', now(), '--filter', 'event=commit', '--format', '{{.Status}} {{.ID}} {{.From}} {{.Actor.Attributes.imageRef}}')).stdout,
      fields.stdout,
    );
    const signals = await e.berth('events', '--since', since, '--until', now(), '--filter', 'event=kill', '--format', '{{.Actor.Attributes.signal}}');
    assert.equal(signals.stdout, '15\n9\n');
    // The default line: the same as the docker CLI's, nine-digit fractions included.
    const lines = await e.berth('events', '--since', since, '--until', now(), '--filter', 'event=update');
    assert.match(lines.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[-+]\d\d:\d\d) container update [0-9a-f]{64} \(image=busybox, name=ev-web\)\n$/);
    assert.equal(lines.stdout, (await e.docker('events', '--since', since, '--until', now(), '--filter', 'event=update')).stdout);
    const json = await e.berth('events', '--since', since, '--until', now(), '--filter', 'event=update', '--format', 'json');
    assert.deepEqual(Object.keys(JSON.parse(json.stdout) as object), ['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
  });

  test('a reader that goes away: logs, events, inspect into `head -1` end quietly as the docker CLI', async () => {
    assert.equal((await e.berth('run', '-d', '--name', 'pipe-src', 'busybox', 'sh', '-c', 'seq 1 20000; sleep 1000')).code, 0);
    await new Promise((r) => setTimeout(r, 1500));
    const cli = berthCommand().map((a) => `'${a}'`).join(' ');
    // events with --until: a stream that follows new events may have written all it had before
    // head exits and then waits for more (the docker CLI would wait the same).
    const until = String(Math.ceil(Date.now() / 1000));
    for (const cmd of [`logs pipe-src`, `events --since 0 --until ${until}`, `inspect ${Array(300).fill('pipe-src').join(' ')}`]) {
      const r = await runCommand('bash', ['-c', `timeout 20 ${cli} -H '${e.d.host}' ${cmd} | head -1; echo "status \${PIPESTATUS[0]}"`]);
      assert.equal(r.stderr, '', cmd);
      const [first, status] = r.stdout.split('\n');
      assert.ok(first, cmd);
      // 141 (SIGPIPE) as docker's when the CLI was still writing; 0 when it had written everything; never a crash, never the timeout.
      assert.match(status!, /^status (141|0)$/, cmd);
    }
    assert.equal((await e.berth('rm', '-f', 'pipe-src')).code, 0);
  });

  test('run/create: limits, --domainname, --device, --oom-score-adj, --pid container:, --runtime, --cidfile, -p warnings, --label-file, seccomp=FILE, -v ./dir', async () => {
    const limits = await e.berth(
      'run', '--rm', '-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m', '--cpu-period', '100000', '--cpu-quota', '50000',
      '--oom-score-adj', '500', '-h', 'box', '--domainname', 'example.org', '--device', '/dev/null:/dev/mynull', 'busybox', 'sh', '-c',
      'cat /proc/self/oom_score_adj /proc/sys/kernel/domainname; hostname -f; [ -c /dev/mynull ] && echo device; ' +
        'if [ -f /sys/fs/cgroup/cpu.max ]; then cut -d" " -f1 /sys/fs/cgroup/cpu.max; else cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; fi',
    );
    assert.equal(limits.code, 0, limits.stderr);
    assert.equal(limits.stdout, '500\nexample.org\nbox.example.org\ndevice\n50000\n');
    const created = await e.berth('create', '--name', 'flags-c', '-m', '64m', '--memory-swap', '-1', '--memory-reservation', '32m', '--cpu-period', '100000', '--cpu-quota', '50000', 'busybox');
    assert.equal(created.code, 0, created.stderr);
    const hc = await e.berth('inspect', '-f', '{{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.Runtime}}', 'flags-c');
    assert.equal(hc.stdout, '-1 33554432 100000 50000 berth-runtime\n');
    // One runtime, the same name everywhere: info's list, its default, inspect's.
    const info = await e.berth('info', '--format', '{{json .Runtimes}} {{.DefaultRuntime}}');
    assert.equal(info.stdout, '{"berth-runtime":{"path":"berth-runtime"}} berth-runtime\n');
    const runtime = await e.berth('run', '--rm', '--runtime', 'runc', 'busybox', 'true');
    assert.equal(runtime.code, 125);
    assert.match(runtime.stderr, /^berth: Error response from daemon: unknown or invalid runtime name: runc\n/);
    assert.match((await e.docker('run', '--rm', '--runtime', 'runc', 'busybox', 'true')).stderr, /Error response from daemon: unknown or invalid runtime name: runc/);
    assert.equal((await e.berth('run', '--rm', '--runtime', 'berth-runtime', 'busybox', 'true')).code, 0);

    // --pid container:<x> joins its PID namespace.
    assert.equal((await e.berth('run', '-d', '--name', 'flags-pid', 'busybox', 'sleep', '1000')).code, 0);
    const ps = await e.berth('run', '--rm', '--pid', 'container:flags-pid', 'busybox', 'ps', '-o', 'args');
    assert.match(ps.stdout, /sleep 1000/);
    assert.equal((await e.berth('run', '--rm', '--pid', 'bogus', 'busybox', 'true')).stderr, "berth: --pid: invalid PID mode\n\nRun 'berth run --help' for more information\n");

    // --cidfile: written by the CLI; an existing one refused as docker refuses it.
    const cid = join(e.work, 'cid');
    const detached = await e.berth('run', '-d', '--cidfile', cid, 'busybox', 'true');
    assert.equal(detached.code, 0, detached.stderr);
    assert.equal(readFileSync(cid, 'utf8'), detached.stdout.trim());
    for (const r of [await e.berth('run', '--cidfile', cid, 'busybox', 'true'), await e.docker('run', '--cidfile', cid, 'busybox', 'true')]) {
      assert.equal(r.code, 125);
      assert.match(r.stderr, new RegExp(`container ID file found, make sure the other container isn't running or delete ${cid}`));
    }

    // -p/-P: sent, and every warning of the create answer printed as the docker CLI prints them.
    const published = await e.berth('run', '--rm', '-p', '8080:80', '-P', 'busybox', 'true');
    assert.equal(published.code, 0, published.stderr);
    const warnings = published.stderr.split('\n').filter(Boolean);
    assert.ok(warnings.length >= 1 && warnings.every((w) => w.startsWith('WARNING: ')), published.stderr);
    assert.deepEqual(warnings, (await e.docker('run', '--rm', '-p', '8080:80', '-P', 'busybox', 'true')).stderr.split('\n').filter(Boolean));
    assert.match((await e.berth('create', '-p', 'bogus', 'busybox')).stderr, /^berth: invalid containerPort: bogus\n/);

    // --label-file, then --label.
    writeFileSync(join(e.work, 'labels'), 'tier=back\n# comment\nteam=db ops\n');
    assert.equal((await e.berth('create', '--name', 'flags-l', '--label-file', join(e.work, 'labels'), '-l', 'tier=front', 'busybox')).code, 0);
    assert.deepEqual(JSON.parse((await e.berth('inspect', '-f', '{{json .Config.Labels}}', 'flags-l')).stdout), { team: 'db ops', tier: 'front' });

    // seccomp=FILE: the profile itself is what the daemon gets (it denies mkdir here).
    writeFileSync(join(e.work, 'seccomp.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
    const denied = await e.berth('run', '--rm', '--security-opt', `seccomp=${join(e.work, 'seccomp.json')}`, 'busybox', 'mkdir', '/tmp/x');
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Operation not permitted/);

    // -v ./relative:/x resolves against the working directory, as docker CLI 28 does.
    mkdirSync(join(e.work, 'rel'), { recursive: true });
    writeFileSync(join(e.work, 'rel/file'), 'relative\n');
    const [cli, ...cliArgs] = berthCommand();
    const rel = await runCommand('bash', ['-c', `cd '${e.work}' && '${cli}' ${cliArgs.map((a) => `'${a}'`).join(' ')} -H '${e.d.host}' run --rm -v ./rel:/x busybox cat /x/file`]);
    assert.equal(rel.stdout, 'relative\n', rel.stderr);
    assert.equal((await e.berth('rm', '-f', 'flags-c', 'flags-pid', 'flags-l')).code, 0);
  });

  test('--volumes-from: a data container\'s volumes (made at first use when it never ran), :ro, the user\'s mount wins; anonymous volumes survive restarts', async () => {
    assert.equal((await e.berth('create', '-v', '/data', '--name', 'vf-store', 'busybox')).code, 0);
    const write = await e.berth('run', '--rm', '--volumes-from', 'vf-store', 'busybox', 'sh', '-c', 'echo kept > /data/f');
    assert.equal(write.code, 0, write.stderr);
    const ro = await e.berth('run', '--rm', '--volumes-from', 'vf-store:ro', 'busybox', 'sh', '-c', 'cat /data/f; touch /data/g');
    assert.equal(ro.stdout, 'kept\n');
    assert.match(ro.stderr, /Read-only file system/);
    // The store itself, started later, has the same volume.
    const own = await e.berth('start', '-a', 'vf-store');
    assert.equal(own.code, 0, own.stderr);
    assert.equal((await e.berth('run', '--rm', 'busybox', 'true')).code, 0);
    const mine = await e.berth('run', '--rm', '--volumes-from', 'vf-store', '-v', `${e.work}:/data`, 'busybox', 'ls', '/data');
    assert.match(mine.stdout, /^busybox\.tar$/m);
    // The docker CLI's view is the same.
    assert.equal((await e.docker('run', '--rm', '--volumes-from', 'vf-store', 'busybox', 'cat', '/data/f')).stdout, 'kept\n');
    for (const r of [await e.berth('run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true'), await e.docker('run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true')]) {
      assert.equal(r.code, 125);
      assert.match(r.stderr, /Error response from daemon: No such container: nosuch/);
      assert.doesNotMatch(r.stderr, /Unable to find image/);
    }
    assert.match((await e.berth('run', '--rm', '--volumes-from', 'vf-store:bogus', 'busybox', 'true')).stderr, /invalid mode: bogus/);

    // An anonymous volume is the same one at every start (its data stays), as dockerd keeps it.
    assert.equal((await e.berth('run', '--name', 'vf-anon', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo x >> /scratch/log')).code, 0);
    const first = (await e.berth('inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', 'vf-anon')).stdout;
    assert.equal((await e.berth('start', '-a', 'vf-anon')).code, 0);
    assert.equal((await e.berth('inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', 'vf-anon')).stdout, first);
    assert.equal((await e.berth('run', '--rm', '--volumes-from', 'vf-anon', 'busybox', 'cat', '/scratch/log')).stdout, 'x\nx\n');
    assert.equal((await e.berth('rm', '-v', 'vf-anon', 'vf-store')).code, 0);
    const left = (await e.berth('volume', 'ls', '-q')).stdout;
    assert.ok(!left.includes(first.trim()), left);
    assert.ok(existsSync(e.work));
  });

  test('small ones: logs --tail bogus, rm -f of a missing container, stats of one, system df -v, info\'s network warning', async () => {
    assert.equal((await e.berth('run', '--name', 'small-logs', 'busybox', 'sh', '-c', 'echo a; echo b; echo c')).code, 0);
    for (const r of [await e.berth('logs', '--tail', 'bogus', 'small-logs'), await e.docker('logs', '--tail', 'bogus', 'small-logs')]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'a\nb\nc\n');
    }
    assert.equal((await e.berth('logs', '--tail', '1', 'small-logs')).stdout, 'c\n');

    // docker CLI 28: rm -f says what is missing and still succeeds; without -f it fails.
    for (const r of [await e.berth('rm', '-f', 'nosuch'), await e.docker('rm', '-f', 'nosuch')]) {
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
    }
    assert.equal((await e.berth('rm', 'nosuch')).code, 1);

    for (const r of [await e.berth('stats', '--no-stream', 'nosuch'), await e.docker('stats', '--no-stream', 'nosuch')]) {
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
    }

    const df = await e.berth('system', 'df', '-v');
    assert.equal(df.code, 0, df.stderr);
    assert.match(df.stdout, /^Images space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS\n/);
    assert.match(df.stdout, /\nContainers space usage:\n\nCONTAINER ID +IMAGE +COMMAND +LOCAL VOLUMES +SIZE +CREATED +STATUS +NAMES\n[0-9a-f]{12} +busybox +"sh -c 'echo a; echo…" +0 +0B .* small-logs\n/);
    assert.match(df.stdout, /\nLocal Volumes space usage:\n\nVOLUME NAME +LINKS +SIZE\n/);
    assert.match(df.stdout, /\nBuild cache usage: 0B\n\nCACHE ID +CACHE TYPE +SIZE +CREATED +LAST USED +USAGE +SHARED\n$/);
    // The same report as the docker CLI's (relative times may tick between the two, and column widths with them).
    const normal = (text: string) => text.replace(/(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?)) ago/g, 'T ago').replace(/ +/g, ' ');
    assert.equal(normal(df.stdout), normal((await e.docker('system', 'df', '-v')).stdout));

    const info = await e.berth('info');
    assert.match(info.stdout, /\n Runtimes: berth-runtime\n Default Runtime: berth-runtime\n Init Binary: \S*\n containerd version: berthd \S+\n runc version: berth-runtime \S+\n/);
    assert.match(info.stderr, /^WARNING: No bridge network: a container gets a private network namespace with loopback only/);
    const dockerInfo = await e.docker('info');
    assert.match(dockerInfo.stderr, /WARNING: No bridge network: a container gets a private network namespace with loopback only/);
    assert.match(dockerInfo.stdout, / runc version: berth-runtime \S+\n/);
    // stats --no-trunc: the whole ID.
    const id = (await e.berth('run', '-d', '--name', 'small-stats', 'busybox', 'sleep', '1000')).stdout.trim();
    assert.equal((await e.berth('stats', '--no-stream', '--no-trunc', '--format', '{{.ID}}', 'small-stats')).stdout, `${id}\n`);
    assert.equal((await e.berth('rm', '-f', 'small-logs', 'small-stats')).code, 0);
  });

  test('attach: Ctrl-P Ctrl-Q detaches with the docker CLI\'s "read escape sequence" and exit 1; the container keeps running', async () => {
    assert.equal((await e.berth('run', '-dit', '--name', 'small-attach', 'busybox', 'sh')).code, 0);
    const steps = [
      { afterMs: 1500, send: 'echo in-$((1+1))\r' },
      { afterMs: 600, send: '\x10\x11' },
    ];
    for (const argv of [[...berthCommand(), '-H', e.d.host, 'attach', 'small-attach'], [DOCKER, '-H', e.d.host, 'attach', 'small-attach']]) {
      const r = await inPty(argv, steps, {});
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /in-2\r\n/);
      assert.match(r.output, /read escape sequence\r\n$/);
      assert.equal((await e.berth('inspect', '-f', '{{.State.Running}}', 'small-attach')).stdout, 'true\n');
    }
    assert.equal((await e.berth('rm', '-f', 'small-attach')).code, 0);
  });
});
