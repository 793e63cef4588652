import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { ImageService } from '../../../src/image/service.ts';
import { importRootfs } from '../../../src/image/archive/index.ts';
import { ContainerService } from '../../../src/container/service.ts';
import { EventHub } from '../../../src/api/events.ts';
import { isBerthError } from '../../../src/common/errors.ts';

let root: string;
let images: ImageService;
let containers: ContainerService;
const events = new EventHub();

async function run(cmd: string[], extra: Record<string, unknown> = {}) {
  const { Id } = await containers.create({ Image: 'busybox', Cmd: cmd, ...extra });
  await containers.start(Id);
  const { StatusCode } = await containers.wait(Id, 'not-running');
  return { id: Id, code: StatusCode };
}

async function logsOf(id: string) {
  let out = '';
  for await (const e of containers.logs(id, {})) out += e.log;
  return out;
}

before(async () => {
  root = await makeTempDir('berth-ctr-');
  const tar = join(root, 'busybox.tar');
  await makeBusyboxTar(root, tar);
  images = await ImageService.open(join(root, 'data'));
  await importRootfs(images, createReadStream(tar), { ref: 'busybox:latest', changes: ['CMD ["sh"]'] });
  containers = await ContainerService.open({ dataRoot: join(root, 'data'), images, events });
});

after(async () => {
  for (const c of containers?.list({ all: true }) ?? []) await containers.remove(c.Id, { force: true }).catch(() => {});
  await containers?.close();
  await removeTempDir(root);
});

describe('containers through the service', () => {
  test('run: output in the log, exit code recorded, PID 1 and its own hostname', async () => {
    const { id, code } = await run(['sh', '-c', 'echo pid=$$; hostname; echo err >&2; exit 3']);
    assert.equal(code, 3);
    const rec = containers.get(id);
    assert.equal(rec.State.Status, 'exited');
    assert.equal(rec.State.ExitCode, 3);
    assert.equal(await logsOf(id), `pid=1\n${id.slice(0, 12)}\nerr\n`);
    await containers.remove(id);
    assert.throws(() => containers.get(id), (e) => isBerthError(e, 'BERTH_CONTAINER_NOT_FOUND'));
  });

  test('stop sends SIGTERM then SIGKILL after the timeout; 137 for a killed container', async () => {
    // PID 1 ignores SIGTERM by default: stop must fall back to SIGKILL.
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['sleep', '60'] });
    await containers.start(Id);
    assert.equal(containers.get(Id).State.Running, true);
    const t0 = Date.now();
    await containers.stop(Id, { timeout: 1 });
    assert.ok(Date.now() - t0 >= 900);
    assert.equal(containers.get(Id).State.ExitCode, 137);
    await containers.remove(Id);
  });

  test('a running container cannot be removed without force; force kills it and leaves no mount', async () => {
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['sleep', '60'] });
    await containers.start(Id);
    await assert.rejects(containers.remove(Id), (e) => isBerthError(e, 'BERTH_CONTAINER_RUNNING') && e.status === 409);
    const dir = containers.dir(Id);
    await containers.remove(Id, { force: true });
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir));
    assert.ok(!existsSync(dir));
  });

  test('the rootfs is mounted for the run only, and /sys/fs/cgroup shows the container\'s own cgroups', async () => {
    const dir = () => containers.dir(id);
    const { Id: id } = await containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/memory | grep -c "^berth$"; ls /sys/fs/cgroup/unified | grep -c "^berth$"; echo done'],
      HostConfig: { Memory: 64 * 1024 * 1024, PidsLimit: 50 },
    });
    const mountedRootfs = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === join(dir(), 'rootfs'));
    assert.equal(mountedRootfs(), false, 'not mounted before start');
    await containers.start(id);
    assert.equal((await containers.wait(id, 'not-running')).StatusCode, 0);
    // Without a cgroup namespace (Docker's default on cgroup v1) each hierarchy
    // is the container's own cgroup directory, as runc shows it: its limits at
    // the top, and no other container's groups (no `berth` parent) in sight.
    assert.equal(await logsOf(id), `${64 * 1024 * 1024}\n50\n0\n0\ndone\n`);
    assert.equal(mountedRootfs(), false, 'the monitor unmounted the rootfs before the exit was recorded');
    await containers.remove(id);
  });

  test('env, workdir, user and read-only root reach the process', async () => {
    const { id, code } = await run(['sh', '-c', 'echo "$FOO $(pwd) $(id -u):$(id -g)"; touch /x 2>/dev/null || echo ro'], {
      Env: ['FOO=bar'],
      WorkingDir: '/tmp',
      User: '65534:65534',
      HostConfig: { ReadonlyRootfs: true },
    });
    assert.equal(code, 0);
    assert.equal(await logsOf(id), 'bar /tmp 65534:65534\nro\n');
  });

  test('bind mounts and volumes', async () => {
    const host = join(root, 'shared');
    const { id, code } = await run(['sh', '-c', 'echo hi > /data/f && echo v > /vol/g && cat /data/f'], {
      HostConfig: { Binds: [`${host}:/data`, 'myvol:/vol'] },
    });
    assert.equal(code, 0);
    assert.equal(readFileSync(join(host, 'f'), 'utf8'), 'hi\n');
    assert.equal(readFileSync(join(root, 'data/volumes/myvol/_data/g'), 'utf8'), 'v\n');
    await containers.remove(id, { volumes: true });
    // Removing the container never deletes a bind-mounted host directory's contents.
    assert.equal(readFileSync(join(host, 'f'), 'utf8'), 'hi\n');
  });

  test('a command that does not exist fails the start with a clear error and exit 127', async () => {
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['/no/such/binary'] });
    await assert.rejects(containers.start(Id), /not found/);
    assert.equal(containers.get(Id).State.ExitCode, 127);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(containers.dir(Id)));
  });

  test('events: create, start, die, destroy', async () => {
    const seen: string[] = [];
    const off = events.subscribe((e) => seen.push(e.Action));
    const { id } = await run(['true']);
    await containers.remove(id);
    off();
    assert.deepEqual(seen, ['create', 'start', 'die', 'destroy']);
  });

  test('name conflicts and lookups by name and id prefix', async () => {
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['true'] }, 'web-1');
    await assert.rejects(containers.create({ Image: 'busybox', Cmd: ['true'] }, 'web-1'), (e) => isBerthError(e, 'BERTH_CONTAINER_NAME_IN_USE') && e.status === 409);
    assert.equal(containers.get('web-1').Id, Id);
    assert.equal(containers.get(Id.slice(0, 8)).Id, Id);
    await containers.remove(Id);
  });

  test('no such image is a 404', async () => {
    await assert.rejects(containers.create({ Image: 'nonexistent:1', Cmd: ['true'] }), (e) => isBerthError(e) && e.status === 404);
  });

  test('exec joins the running container: same pid namespace and filesystem, env, exit code, stdin', async () => {
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo marker > /tmp/m; sleep 60'], Env: ['A=1'] });
    await containers.start(Id);
    await new Promise((r) => setTimeout(r, 200));
    const execId = containers.createExec(Id, {
      Cmd: ['sh', '-c', 'read x; echo "in: $x $A $B $(cat /tmp/m) $(grep -c sleep /proc/1/cmdline)"; exit 4'],
      Env: ['B=2'],
      AttachStdin: true,
      AttachStdout: true,
    });
    const sock = (await containers.startExec(execId))!;
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.write('hello\n');
    await new Promise((r) => sock.on('close', r));
    await containers.getExec(execId).exited;
    const raw = Buffer.concat(chunks);
    assert.equal(raw[0], 1, 'stdout frame');
    assert.equal(raw.subarray(8).toString(), 'in: hello 1 2 marker 1\n');
    assert.equal(containers.getExec(execId).ExitCode, 4);
    await assert.rejects(containers.startExec(execId), /already run/);
    await containers.remove(Id, { force: true });
    assert.throws(() => containers.getExec(execId), /No such exec/);
  });
});

describe('privileged and devices', () => {
  test('--privileged: every capability the engine holds, and the host\'s devices', async () => {
    const { id, code } = await run(['sh', '-c', 'grep CapEff /proc/self/status; ls /dev/null /dev/zero /dev/vda >/dev/null && echo devs'], {
      HostConfig: { Privileged: true },
    });
    const out = await logsOf(id);
    assert.equal(code, 0, out);
    const own = /^CapBnd:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    assert.match(out, new RegExp(`CapEff:\\s*${own}`));
    assert.match(out, /devs/);
    await containers.remove(id);
  });

  test('--device maps a host node with its cgroup permissions; a missing one is a clear error', async () => {
    const { id, code } = await run(['sh', '-c', 'ls -l /dev/mynull; echo x > /dev/mynull && echo wrote'], {
      HostConfig: { Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rwm' }] },
    });
    const out = await logsOf(id);
    assert.equal(code, 0, out);
    assert.match(out, /^c.* 1, +3 .*\/dev\/mynull$/m);
    assert.match(out, /wrote/);
    await containers.remove(id);
    const { Id } = await containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { Devices: [{ PathOnHost: '/dev/nope', PathInContainer: '/dev/nope', CgroupPermissions: 'rwm' }] } });
    await assert.rejects(containers.start(Id), /error gathering device information while adding custom device "\/dev\/nope"/);
    await containers.remove(Id);
  });
});
