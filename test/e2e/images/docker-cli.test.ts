/**
 * The real docker CLI (/usr/local/bin/docker, 28.x) against berthd: version,
 * info, import, tag, push to a berth registry on loopback, rmi, pull, images,
 * image inspect, history, save, load, and errors — asserting what a user sees.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { startBerthRegistry, type TestRegistry } from './registry-helper.ts';

const DOCKER = '/usr/local/bin/docker';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(host: string, args: string[], configDir: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(DOCKER, ['-H', host, ...args], { env: { ...process.env, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false', ...extraEnv }, timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('docker CLI against berthd', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let work: string;
  let image: string;
  const run = (...args: string[]) => docker(d.host, args, join(work, 'docker-config'));

  let startedAt = 0;
  before(async () => {
    startedAt = Math.floor(Date.now() / 1000) - 1;
    work = await makeTempDir('berth-e2e-docker-');
    d = await startDaemon();
    reg = await startBerthRegistry();
    image = `${reg.addr}/e2e/busybox:latest`;
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
  });
  after(async () => {
    await reg?.stop();
    await d?.stop();
    await removeTempDir(work);
  });

  test('docker version shows berth as the server, API negotiated', async () => {
    const r = await run('version');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Server: berth\n Engine:\n  Version:\s+0\.1\.0\n  API version:\s+1\.45 \(minimum version 1\.24\)/);
    assert.match(r.stdout, /API version:\s+1\.45 \(downgraded from 1\.\d+\)/);
  });

  test('older API versions a client pins (DOCKER_API_VERSION 1.24, 1.41) are served; too old is refused', async () => {
    for (const v of ['1.24', '1.41']) {
      const r = await docker(d.host, ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}'], join(work, 'docker-config'), { DOCKER_API_VERSION: v });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${v} 1.45\n`);
    }
    const old = await docker(d.host, ['images'], join(work, 'docker-config'), { DOCKER_API_VERSION: '1.12' });
    assert.equal(old.code, 1);
    assert.match(old.stderr, /client version 1.12 is too old. Minimum supported API version is 1.24/);
  });

  test('docker info', async () => {
    const r = await run('info', '--format', '{{.ServerVersion}} {{.OSType}} {{.DockerRootDir}}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `0.1.0 linux ${d.dataRoot}\n`);
  });

  test('docker import makes an image from a rootfs tarball', async () => {
    const r = await run('import', '-c', 'CMD ["/bin/sh"]', join(work, 'busybox.tar'), 'e2e/busybox:imported');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('docker tag + push to a berth registry on loopback', async () => {
    assert.equal((await run('tag', 'e2e/busybox:imported', image)).code, 0);
    const r = await run('push', image);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`The push refers to repository \\[${reg.addr}/e2e/busybox\\]`));
    assert.match(r.stdout, /[0-9a-f]{12}: Pushed/);
    assert.match(r.stdout, /latest: digest: sha256:[0-9a-f]{64} size: \d+/);
  });

  test('docker rmi untags, then docker pull downloads it back with Docker\'s lines', async () => {
    const rm = await run('rmi', image);
    assert.equal(rm.code, 0, rm.stderr);
    // As with dockerd, the repository's digest reference goes with its last tag.
    assert.match(rm.stdout, new RegExp(`^Untagged: ${image.replace(/\./g, '\\.')}\nUntagged: ${reg.addr.replace(/\./g, '\\.')}/e2e/busybox@sha256:[0-9a-f]{64}\n$`));
    const r = await run('pull', image);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^latest: Pulling from e2e\/busybox\n/);
    // The layer is still held by e2e/busybox:imported, so it may already exist locally.
    assert.match(r.stdout, /[0-9a-f]{12}: (Pull complete|Already exists)\n/);
    assert.match(r.stdout, /\nDigest: sha256:[0-9a-f]{64}\n/);
    assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${image.replace(/\./g, '\\.')}\n${image.replace(/\./g, '\\.')}\n$`));
    const again = await run('pull', image);
    assert.match(again.stdout, /Status: Image is up to date for /);
  });

  test('docker images lists both names in Docker\'s table', async () => {
    const r = await run('images');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(lines.some((l) => new RegExp(`^${reg.addr}/e2e/busybox\\s+latest\\s+[0-9a-f]{12}\\s+.+ago\\s+[\\d.]+[kM]B$`).test(l)), r.stdout);
    assert.ok(lines.some((l) => /^e2e\/busybox\s+imported\s+/.test(l)), r.stdout);
    const f = await run('images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=e2e/*');
    assert.equal(f.stdout, 'e2e/busybox:imported\n');
  });

  test('docker image inspect and history', async () => {
    const r = await run('image', 'inspect', image);
    assert.equal(r.code, 0, r.stderr);
    const [info] = JSON.parse(r.stdout);
    assert.match(info.Id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(info.Config.Cmd, ['/bin/sh']);
    assert.ok(info.RepoTags.includes(image));
    assert.ok(info.RepoDigests.some((x: string) => x.startsWith(`${reg.addr}/e2e/busybox@sha256:`)));
    assert.equal(info.Os, 'linux');
    assert.equal(info.RootFS.Layers.length, 1);
    const f = await run('image', 'inspect', '--format', '{{json .Config.Cmd}} {{.Architecture}}', image);
    assert.equal(f.stdout, '["/bin/sh"] amd64\n');
    const h = await run('history', image);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n[0-9a-f]{12}\s+/);
  });

  test('docker save -o, rmi, docker load -i round trip', async () => {
    const tar = join(work, 'saved.tar');
    const s = await run('save', '-o', tar, image);
    assert.equal(s.code, 0, s.stderr);
    assert.ok((await stat(tar)).size > 500_000);
    const before = JSON.parse((await run('image', 'inspect', image)).stdout)[0].Id;
    const rm = await run('rmi', '-f', image, 'e2e/busybox:imported');
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /Deleted: sha256:/);
    const l = await run('load', '-i', tar);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, new RegExp(`Loaded image: ${image.replace(/\./g, '\\.')}\n`));
    const after = JSON.parse((await run('image', 'inspect', image)).stdout)[0].Id;
    assert.equal(after, before);
    void readFile;
  });

  test('docker login goes through berthd\'s /auth check', async () => {
    const r = await new Promise<Run>((resolve) => {
      const child = execFile(DOCKER, ['-H', d.host, 'login', '-u', 'someone', '--password-stdin', reg.addr], { env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end('secret\n');
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Login Succeeded/);
  });

  test('docker events replays the image events of this run (since/until, filters, --format)', async () => {
    const r = await run('events', '--since', String(startedAt), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Type}} {{.Action}}');
    assert.equal(r.code, 0, r.stderr);
    const actions = r.stdout.trim().split('\n');
    for (const a of ['image import', 'image tag', 'image push', 'image untag', 'image pull', 'image save', 'image delete', 'image load']) {
      assert.ok(actions.includes(a), `missing "${a}" in:\n${r.stdout}`);
    }
    assert.ok(actions.indexOf('image push') < actions.indexOf('image pull'), 'events are in order');
    const pulls = await run('events', '--since', String(startedAt), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'event=pull', '--format', '{{.Actor.ID}} {{.Actor.Attributes.name}}');
    assert.match(pulls.stdout, new RegExp(`^${image.replace(/\./g, '\\.')} ${reg.addr.replace(/\./g, '\\.')}/e2e/busybox\n`));
  });

  test('errors read like Docker\'s', async () => {
    const rm = await run('rmi', 'no-such-image');
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /Error response from daemon: No such image: no-such-image/);
    const pull = await run('pull', `${reg.addr}/e2e/missing:1`);
    assert.equal(pull.code, 1);
    assert.match(pull.stderr, /Error response from daemon: .*(not found|unknown)/i);
    const search = await run('search', 'busybox');
    assert.equal(search.code, 1);
    assert.match(search.stderr, /Error response from daemon: image search is not supported by berth/);
  });
});
