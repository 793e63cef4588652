import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type RegistryFixture } from './registry-fixture.ts';
import { makeBusyboxLayout } from './oci-layout-fixture.ts';

const run = promisify(execFile);

/**
 * The docker CLI pushing to and pulling from the berth registry through a
 * private dockerd (Debian's docker.io) that touches no host network: its own
 * data root, exec root, socket and containerd namespace, all in the test's
 * temp dir. Docker treats 127.0.0.0/8 registries as insecure (plain HTTP).
 */
let reg: RegistryFixture;
let dockerd: ChildProcess | undefined;
let sock: string;
let host: string;

async function docker(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('docker', ['-H', `unix://${sock}`, ...args], { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

before(async () => {
  reg = await startTestRegistry();
  host = reg.url.replace('http://', '');
  const d = join(reg.dir, 'dockerd');
  sock = join(d, 'docker.sock');
  const ns = `berth-regtest-${process.pid}`;
  dockerd = spawn(
    'dockerd',
    [
      '--data-root', join(d, 'data'),
      '--exec-root', join(d, 'exec'),
      '--pidfile', join(d, 'dockerd.pid'),
      '-H', `unix://${sock}`,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false',
      '--storage-driver', 'overlay2',
      '--containerd-namespace', ns,
      '--containerd-plugins-namespace', `${ns}-p`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  dockerd.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (dockerd.exitCode !== null) throw new Error(`dockerd exited with ${dockerd.exitCode}: ${log}`);
    try {
      await run('docker', ['-H', `unix://${sock}`, 'version', '--format', '{{.Server.Version}}']);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`dockerd did not come up in 90 s: ${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

after(async () => {
  if (dockerd && dockerd.exitCode === null && dockerd.signalCode === null && dockerd.pid) {
    const exited = once(dockerd, 'exit');
    process.kill(dockerd.pid, 'SIGTERM');
    const timer = setTimeout(() => dockerd?.pid && dockerd.exitCode === null && process.kill(dockerd.pid, 'SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  await reg?.close();
});

test('docker push to the berth registry, cross-repo mount, and docker pull back by digest', { timeout: 300_000 }, async () => {
  const layout = await makeBusyboxLayout(join(reg.dir, 'work'), join(reg.dir, 'layout'), 'v1');
  const archive = join(reg.dir, 'busybox.tar');
  await run('skopeo', ['copy', `oci:${layout.dir}:v1`, `docker-archive:${archive}:bb:v1`]);
  await docker(['load', '-i', archive]);

  await docker(['tag', 'bb:v1', `${host}/dk/busybox:v1`]);
  const push = await docker(['push', `${host}/dk/busybox:v1`]);
  const pushed = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push);
  assert.ok(pushed, `push output names the digest:\n${push}`);
  const digest = pushed[1]!;

  await docker(['tag', 'bb:v1', `${host}/dk/again:v2`]);
  const second = await docker(['push', `${host}/dk/again:v2`]);
  assert.match(second, /Mounted from dk\/busybox/);

  const tags = (await (await fetch(`${reg.url}/v2/dk/busybox/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['v1']);
  const head = await fetch(`${reg.url}/v2/dk/busybox/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  assert.equal(head.headers.get('docker-content-digest'), digest);
  assert.equal(head.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.v2+json');

  await docker(['rmi', `${host}/dk/busybox:v1`, `${host}/dk/again:v2`, 'bb:v1']);
  const pull = await docker(['pull', `${host}/dk/busybox@${digest}`]);
  assert.match(pull, new RegExp(`Digest: ${digest}`));
  const ids = await docker(['images', '--digests', '--format', '{{.Repository}} {{.Digest}}']);
  assert.match(ids, new RegExp(`${host.replace(/\./g, '\\.')}/dk/busybox ${digest}`));
});
