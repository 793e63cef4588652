/**
 * The berth CLI against berthd (both the real commands, spawned): import,
 * tag, push to a berth registry on loopback, rmi, pull, images with its
 * flags and --format, inspect, history, save/load, prune, login/logout, and
 * Docker's exit codes and error lines.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { startDaemon, NODE, CLI_MAIN, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { startBerthRegistry, type TestRegistry } from './registry-helper.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('berth CLI against berthd', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let work: string;
  let image: string;
  const berth = (args: string[], input?: string): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(
        NODE,
        ['--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', d.host, ...args],
        { env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') }, timeout: 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });

  let startedAt = 0;
  before(async () => {
    startedAt = Math.floor(Date.now() / 1000) - 1;
    work = await makeTempDir('berth-e2e-cli-');
    d = await startDaemon();
    reg = await startBerthRegistry();
    image = `${reg.addr}/cli/busybox:1.0`;
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
  });
  after(async () => {
    await reg?.stop();
    await d?.stop();
    await removeTempDir(work);
  });

  test('version and info talk to the daemon', async () => {
    const v = await berth(['version', '--format', '{{.Server.Version}} {{.Server.ApiVersion}} {{.Client.ApiVersion}}']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, '0.1.0 1.45 1.45\n');
    const i = await berth(['info']);
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, new RegExp(`Berth Root Dir: ${esc(d.dataRoot)}\n`));
  });

  test('import with --change and --message, from a file and from stdin', async () => {
    const r = await berth(['import', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV A=1', '-m', 'from busybox-static', join(work, 'busybox.tar'), 'cli/busybox:imported']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const f = await berth(['image', 'inspect', '--format', '{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}}', 'cli/busybox:imported']);
    assert.equal(f.stdout, '["/bin/sh"] ["A=1"] from busybox-static\n');
    const tar = await readFile(join(work, 'busybox.tar'));
    const s = await new Promise<Run>((resolve) => {
      const child = execFile(NODE, ['--disable-warning=ExperimentalWarning', CLI_MAIN, '-H', d.host, 'import', '-', 'cli/stdin'], (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
      child.stdin!.end(tar);
    });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('tag + push to a berth registry on loopback', async () => {
    assert.equal((await berth(['tag', 'cli/busybox:imported', image])).code, 0);
    const r = await berth(['push', image]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^The push refers to repository \\[${esc(reg.addr)}/cli/busybox\\]\n`));
    assert.match(r.stdout, /[0-9a-f]{12}: Pushed\n/);
    assert.match(r.stdout, /1\.0: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
  });

  test('rmi then pull prints Docker\'s lines and the reference', async () => {
    const rm = await berth(['rmi', image, 'cli/busybox:imported']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, new RegExp(`^Untagged: ${esc(image)}\n`));
    assert.match(rm.stdout, /Deleted: sha256:[0-9a-f]{64}\n/);
    const r = await berth(['pull', image]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1\.0: Pulling from cli\/busybox\n/);
    assert.match(r.stdout, /Digest: sha256:[0-9a-f]{64}\n/);
    assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${esc(image)}\n${esc(image)}\n$`));
    const q = await berth(['pull', '-q', image]);
    assert.equal(q.stdout, `${image}\n`);
  });

  test('pull by digest', async () => {
    const digest = (JSON.parse((await berth(['image', 'inspect', image])).stdout)[0].RepoDigests as string[])[0]!.split('@')[1]!;
    const byDigest = `${reg.addr}/cli/busybox@${digest}`;
    const r = await berth(['pull', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${esc(digest)}: Pulling from cli/busybox\n`));
    assert.match(r.stdout, new RegExp(`Status: Image is up to date for ${esc(byDigest)}\n${esc(byDigest)}\n$`));
  });

  test('images: table, -q, --digests, --no-trunc, --format, --filter, positional reference', async () => {
    const t = await berth(['images']);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY {3,}TAG {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    assert.ok(lines.some((l) => new RegExp(`^${esc(reg.addr)}/cli/busybox +1\\.0 +[0-9a-f]{12} +.* ago +2(\\.\\d+)?MB$`).test(l)), t.stdout);
    const id = JSON.parse((await berth(['image', 'inspect', image])).stdout)[0].Id as string;
    const q = await berth(['images', '-q', image]);
    assert.equal(q.stdout, `${id.slice(7, 19)}\n`);
    const nt = await berth(['images', '--no-trunc', '--format', '{{.ID}}', image]);
    assert.equal(nt.stdout, `${id}\n`);
    const dg = await berth(['images', '--digests']);
    assert.match(dg.stdout, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE\n/);
    assert.match(dg.stdout, new RegExp(`\n${esc(reg.addr)}/cli/busybox +1\\.0 +sha256:[0-9a-f]{64} +[0-9a-f]{12} `));
    const f = await berth(['image', 'ls', '--format', 'table {{.Repository}}:{{.Tag}}\\t{{.Size}}', '--filter', 'reference=cli/*']);
    assert.match(f.stdout.split('\n')[0]!, /^REPOSITORY:TAG {3,}SIZE$/);
    assert.match(f.stdout, /\ncli\/stdin:latest +2(\.\d+)?MB\n/);
    const j = await berth(['images', '--format', '{{json .}}', image]);
    assert.equal(JSON.parse(j.stdout).Repository, `${reg.addr}/cli/busybox`);
  });

  test('inspect and history', async () => {
    const r = await berth(['image', 'inspect', image]);
    assert.equal(r.code, 0, r.stderr);
    const [info] = JSON.parse(r.stdout);
    assert.ok(info.RepoTags.includes(image));
    assert.match(r.stdout, /^\[\n {4}\{\n {8}"Id": "sha256:/);
    const f = await berth(['inspect', '-f', '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}', image]);
    assert.equal(f.stdout, 'linux/amd64 1\n');
    const h = await berth(['history', image]);
    assert.match(h.stdout, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT\n[0-9a-f]{12} +.* ago +.*2(\.\d+)?MB +from busybox-static\n$/);
    const hq = await berth(['history', '-q', '--no-trunc', image]);
    assert.equal(hq.stdout, `${info.Id}\n`);
    const hb = await berth(['history', '-H=false', '--format', '{{.Size}}', image]);
    assert.match(hb.stdout, /^\d+\n$/);
  });

  test('save -o, rmi, load -i restores the same image; save to a terminal-less stdout works too', async () => {
    const tar = join(work, 'cli-save.tar');
    const s = await berth(['save', '-o', tar, image]);
    assert.equal(s.code, 0, s.stderr);
    assert.ok((await stat(tar)).size > 500_000);
    const id = JSON.parse((await berth(['image', 'inspect', image])).stdout)[0].Id;
    assert.equal((await berth(['rmi', image])).code, 0);
    const l = await berth(['load', '-i', tar]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout, `Loaded image: ${image}\n`);
    assert.equal(JSON.parse((await berth(['image', 'inspect', image])).stdout)[0].Id, id);
    const out = await berth(['save', image]);
    assert.equal(out.code, 0);
    assert.ok(out.stdout.length > 100_000);
  });

  test('prune -f removes dangling images and reports the space', async () => {
    // Re-importing the same tag leaves the previous image dangling.
    await berth(['import', join(work, 'busybox.tar'), 'cli/dangle:1']);
    await writeFile(join(work, 'marker'), 'x');
    await berth(['import', '-c', 'ENV X=2', join(work, 'busybox.tar'), 'cli/dangle:1']);
    const before = await berth(['images', '-q', '--filter', 'dangling=true']);
    assert.ok(before.stdout.trim().length > 0, 'a dangling image exists');
    const no = await berth(['image', 'prune'], 'n\n');
    assert.equal(no.code, 0);
    assert.equal(no.stdout, 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
    assert.equal((await berth(['images', '-q', '--filter', 'dangling=true'])).stdout, before.stdout, 'answering no removes nothing');
    const p = await berth(['image', 'prune', '-f']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n/);
    assert.match(p.stdout, /Total reclaimed space: .*B\n$/);
    assert.equal((await berth(['images', '-q', '--filter', 'dangling=true'])).stdout, '');
  });

  test('login checks with the registry through berthd and stores credentials; logout removes them', async () => {
    const r = await berth(['login', '-u', 'someone', '--password-stdin', reg.addr], 'secret\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Login Succeeded\n');
    const config = JSON.parse(await readFile(join(work, 'docker-config/config.json'), 'utf8'));
    assert.equal(config.auths[reg.addr].auth, Buffer.from('someone:secret').toString('base64'));
    const o = await berth(['logout', reg.addr]);
    assert.equal(o.stdout, `Removing login credentials for ${reg.addr}\n`);
    const again = await berth(['logout', reg.addr]);
    assert.equal(again.stdout, `Not logged in to ${reg.addr}\n`);
  });

  test('events replays what happened (since/until, --filter, --format, default lines)', async () => {
    const until = String(Math.ceil(Date.now() / 1000) + 1);
    const f = await berth(['events', '--since', String(startedAt), '--until', until, '--filter', 'event=push', '--format', '{{.Action}} {{.Actor.ID}}']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, `push ${image}\n`);
    const all = await berth(['events', '--since', String(startedAt), '--until', until, '--filter', 'type=image']);
    assert.match(all.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z image pull ${esc(image)} \\(name=${esc(reg.addr)}/cli/busybox\\)$`, 'm'));
  });

  test('errors: daemon errors prefixed and exit 1; usage errors exit 125', async () => {
    const rm = await berth(['rmi', 'nope:none']);
    assert.equal(rm.code, 1);
    assert.equal(rm.stderr, 'Error response from daemon: No such image: nope:none\n');
    const insp = await berth(['image', 'inspect', 'nope']);
    assert.equal(insp.code, 1);
    assert.equal(insp.stdout, '[]\n');
    assert.equal(insp.stderr, 'Error: No such image: nope\n');
    const bad = await berth(['images', '--bogus']);
    assert.equal(bad.code, 125);
    assert.equal(bad.stderr, "unknown flag: --bogus\nSee 'berth images --help'.\n");
    // Rejected by the CLI before any network traffic (uppercase is never valid in a repository path).
    const ref = await berth(['pull', 'Busybox']);
    assert.equal(ref.code, 1);
    assert.match(ref.stderr, /invalid reference format/);
    const tmpl = await berth(['images', '--format', '{{.Nope']);
    assert.equal(tmpl.code, 1);
    assert.match(tmpl.stderr, /template parsing error: template: unclosed action/);
    const missing = await berth(['pull', `${reg.addr}/cli/missing:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error response from daemon: .*not found/);
    const load = await berth(['load', '-i', join(work, 'does-not-exist.tar')]);
    assert.equal(load.code, 1);
    assert.match(load.stderr, /ENOENT|no such file/);
  });
});
