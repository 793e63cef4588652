/**
 * dockerode (the Node SDK most tools use) against berthd for images:
 * version, import via buildImage-free paths (load), list, inspect, tag,
 * push and pull with progress streams, remove — the calls testcontainers
 * and similar libraries make.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { startBerthRegistry, type TestRegistry } from './registry-helper.ts';

// dockerode is CommonJS without bundled types; describe the part used here.
interface DockerodeImage {
  inspect(): Promise<{ Id: string; RepoTags: string[]; Config: { Cmd: string[] | null } }>;
  tag(opts: { repo: string; tag: string }): Promise<unknown>;
  push(opts?: { authconfig?: unknown }): Promise<NodeJS.ReadableStream>;
  remove(opts?: { force?: boolean }): Promise<Array<{ Untagged?: string; Deleted?: string }>>;
}
interface Dockerode {
  version(): Promise<{ ApiVersion: string; Version: string }>;
  ping(): Promise<Buffer | string>;
  listImages(opts?: { all?: boolean; filters?: string }): Promise<Array<{ Id: string; RepoTags: string[] | null }>>;
  getImage(name: string): DockerodeImage;
  pull(ref: string): Promise<NodeJS.ReadableStream>;
  importImage(file: NodeJS.ReadableStream, opts: { repo: string; tag: string; changes?: string[] }): Promise<NodeJS.ReadableStream>;
  modem: { followProgress(stream: NodeJS.ReadableStream, done: (err: Error | null, out: Array<{ status?: string; error?: string }>) => void): void };
}
const Docker = createRequire(import.meta.url)('dockerode') as new (opts: { socketPath: string }) => Dockerode;

function follow(docker: Dockerode, stream: NodeJS.ReadableStream): Promise<Array<{ status?: string; error?: string }>> {
  return new Promise((resolve, reject) => docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out))));
}

describe('dockerode against berthd (images)', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let work: string;
  let docker: Dockerode;

  before(async () => {
    work = await makeTempDir('berth-e2e-dockerode-');
    d = await startDaemon();
    reg = await startBerthRegistry();
    docker = new Docker({ socketPath: d.socketPath });
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
  });
  after(async () => {
    await reg?.stop();
    await d?.stop();
    await removeTempDir(work);
  });

  test('ping and version', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.equal(v.ApiVersion, '1.45');
    assert.equal(v.Version, '0.1.0');
  });

  test('import, list, inspect, tag, push, remove, pull', async () => {
    const out = await follow(docker, await docker.importImage(createReadStream(join(work, 'busybox.tar')), { repo: 'sdk/busybox', tag: '1', changes: ['CMD ["/bin/sh"]'] }));
    assert.match(out[out.length - 1]!.status!, /^sha256:[0-9a-f]{64}$/);
    const list = await docker.listImages();
    assert.ok(list.some((i) => i.RepoTags?.includes('sdk/busybox:1')));
    const info = await docker.getImage('sdk/busybox:1').inspect();
    assert.deepEqual(info.Config.Cmd, ['/bin/sh']);
    const remote = `${reg.addr}/sdk/busybox`;
    await docker.getImage('sdk/busybox:1').tag({ repo: remote, tag: '1' });
    const pushed = await follow(docker, await docker.getImage(`${remote}:1`).push({ authconfig: {} }));
    assert.ok(pushed.some((m) => /^1: digest: sha256:[0-9a-f]{64} size: \d+$/.test(m.status ?? '')), JSON.stringify(pushed));
    const removed = await docker.getImage(`${remote}:1`).remove();
    assert.equal(removed[0]!.Untagged, `${remote}:1`);
    const pulled = await follow(docker, await docker.pull(`${remote}:1`));
    assert.ok(pulled.some((m) => m.status === `Status: Downloaded newer image for ${remote}:1`), JSON.stringify(pulled));
    assert.equal((await docker.getImage(`${remote}:1`).inspect()).Id, info.Id);
  });

  test('errors come back as rejected promises with Docker\'s status and message', async () => {
    await assert.rejects(docker.getImage('no/such:image').inspect(), (err: { statusCode?: number; json?: { message?: string } }) => {
      assert.equal(err.statusCode, 404);
      assert.equal(err.json?.message, 'No such image: no/such:image');
      return true;
    });
  });
});
