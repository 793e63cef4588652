/**
 * The berth CLI where an audit found it unlike the docker CLI, checked
 * against a private berthd (and, where the daemon is what matters, with the
 * docker CLI 28 beside it): ps filters, formats and sizes, events (their
 * template fields and the actions dockerd reports), broken pipes, and the
 * smaller commands' edges.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, runCommand, berthCommand, type Env } from './helpers.ts';

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
    for (const cmd of [`logs pipe-src`, `events --since 0`, `inspect ${Array(300).fill('pipe-src').join(' ')}`]) {
      const r = await runCommand('bash', ['-c', `timeout 20 ${cli} -H '${e.d.host}' ${cmd} | head -1; echo "status \${PIPESTATUS[0]}"`]);
      assert.equal(r.stderr, '', cmd);
      const [first, status] = r.stdout.split('\n');
      assert.ok(first, cmd);
      // 141 (SIGPIPE) as docker's when the CLI was still writing; 0 when it had written everything; never a crash, never the timeout.
      assert.match(status!, /^status (141|0)$/, cmd);
    }
    assert.equal((await e.berth('rm', '-f', 'pipe-src')).code, 0);
  });
});
