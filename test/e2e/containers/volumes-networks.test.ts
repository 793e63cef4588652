/**
 * Volumes and networks as users drive them: the real docker CLI 28,
 * docker-compose 1.29 and the berth CLI against berthd — volume
 * create/ls/inspect/rm/prune, copy-up of image content into a new volume,
 * network ls/inspect/prune, `system prune -f` all the way through, an unknown
 * `--network` refused clearly without any pull, and `--network container:<x>`.
 * Only the busybox image imported offline is ever referenced.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { setup, runCommand, type Env, type Run } from './helpers.ts';

describe('docker CLI: volumes and networks on berthd', () => {
  let e: Env;
  before(async () => {
    // --debug: berthd logs every request, so the test can tell that no pull was asked for.
    e = await setup('berth-e2e-volnet-docker-', { daemonArgs: ['--debug'] });
  });
  after(async () => {
    await e?.stop();
  });

  test('volume create, ls, inspect, rm (409 while a container uses it), prune', async () => {
    assert.equal((await e.docker('volume', 'create', 'e2evol')).stdout, 'e2evol\n');
    const device = join(e.work, 'bind-device');
    await mkdir(device);
    const bind = await e.docker('volume', 'create', '--label', 'app=x', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${device}`, 'bindvol');
    assert.equal(bind.code, 0, bind.stderr);
    const ls = await e.docker('volume', 'ls');
    assert.equal(ls.stdout, 'DRIVER    VOLUME NAME\nlocal     bindvol\nlocal     e2evol\n');
    assert.equal((await e.docker('volume', 'ls', '-q', '-f', 'label=app=x')).stdout, 'bindvol\n');
    assert.equal((await e.docker('volume', 'ls', '-q', '-f', 'name=e2e')).stdout, 'e2evol\n');
    const json = JSON.parse((await e.docker('volume', 'ls', '--format', 'json', '-f', 'name=e2evol')).stdout) as Record<string, string>;
    assert.deepEqual({ ...json, Mountpoint: '' }, {
      Availability: 'N/A', Driver: 'local', Group: 'N/A', Labels: '', Links: 'N/A', Mountpoint: '', Name: 'e2evol', Scope: 'local', Size: 'N/A', Status: 'N/A',
    });
    const inspect = await e.docker('volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Options}}', 'e2evol', 'bindvol');
    assert.equal(inspect.stdout, `e2evol local local ${join(e.d.dataRoot, 'volumes/e2evol/_data')} map[]\nbindvol local local ${join(e.d.dataRoot, 'volumes/bindvol/_data')} map[device:${device} o:bind type:none]\n`);
    const missing = await e.docker('volume', 'inspect', 'nosuch');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /get nosuch: no such volume/);

    // A bind volume shows its device's files; writes land there.
    assert.equal((await e.docker('run', '--rm', '-v', 'bindvol:/b', 'busybox', 'sh', '-c', 'echo via-volume > /b/f')).code, 0);
    assert.equal(readFileSync(join(device, 'f'), 'utf8'), 'via-volume\n');

    assert.equal((await e.docker('run', '-d', '--name', 'volholder', '-v', 'e2evol:/data', 'busybox', 'sleep', '60')).code, 0);
    const busy = await e.docker('volume', 'rm', 'e2evol');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^Error response from daemon: remove e2evol: volume is in use - \[[0-9a-f]{64}\]\n/);
    await e.docker('rm', '-f', 'volholder');
    assert.equal((await e.docker('volume', 'rm', 'e2evol', 'bindvol')).stdout, 'e2evol\nbindvol\n');
    assert.ok(existsSync(join(device, 'f')), "removing a bind volume leaves its device's files alone");

    // Prune: anonymous volumes by default, named ones too with --all.
    assert.equal((await e.docker('run', '--name', 'anonc', '-v', '/anon', 'busybox', 'true')).code, 0);
    const anon = JSON.parse((await e.docker('inspect', '-f', '{{json .Mounts}}', 'anonc')).stdout) as Array<{ Name: string; Type: string }>;
    assert.equal(anon[0]!.Type, 'volume');
    await e.docker('rm', 'anonc');
    assert.equal((await e.docker('volume', 'create', 'keepnamed')).code, 0);
    const prune = await e.docker('volume', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal(prune.stdout, `Deleted Volumes:\n${anon[0]!.Name}\n\nTotal reclaimed space: 0B\n`);
    const all = await e.docker('volume', 'prune', '-af');
    assert.equal(all.stdout, 'Deleted Volumes:\nkeepnamed\n\nTotal reclaimed space: 0B\n');
    assert.equal((await e.docker('volume', 'ls', '-q')).stdout, '');
  });

  test('copy-up: a new volume mounted over an image directory starts with its content (not a bind mount, not nocopy)', async () => {
    const etc = await e.docker('run', '--rm', '-v', 'newvol:/etc', 'busybox', 'ls', '/etc');
    assert.equal(etc.code, 0, etc.stderr);
    assert.equal(etc.stdout, 'group\npasswd\n');
    const bin = await e.docker('run', '--rm', '-v', 'vv:/bin', 'busybox', 'sh', '-c', 'ls /bin | wc -l');
    assert.equal(bin.code, 0, bin.stderr);
    assert.ok(Number(bin.stdout.trim()) > 100, `the applets are there: ${bin.stdout}`);
    const nocopy = await e.docker('run', '--rm', '-v', 'nocopyvol:/etc:nocopy', 'busybox', '/bin/ls', '/etc');
    assert.equal(nocopy.stdout, '');
    const mount = await e.docker('run', '--rm', '--mount', 'type=volume,src=mountvol,dst=/etc', 'busybox', 'cat', '/etc/group');
    assert.match(mount.stdout, /^root:x:0:/);
    await e.docker('volume', 'rm', 'newvol', 'vv', 'nocopyvol', 'mountvol');
  });

  test('network ls, inspect (running containers attached), prune', async () => {
    const ls = await e.docker('network', 'ls');
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n[0-9a-f]{12}\s+host\s+host\s+local\n[0-9a-f]{12}\s+none\s+null\s+local\n$/);
    assert.equal((await e.docker('network', 'ls', '--format', '{{.Name}}', '-f', 'driver=null')).stdout, 'none\n');
    assert.equal((await e.docker('network', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}} {{len .Containers}}', 'none', 'host')).stdout, 'none null local 0\nhost host local 0\n');
    const id = (await e.docker('run', '-d', '--network', 'host', '--name', 'onhost', 'busybox', 'sleep', '60')).stdout.trim();
    const attached = await e.docker('network', 'inspect', '-f', '{{range $id, $c := .Containers}}{{$id}} {{$c.Name}}{{end}}', 'host');
    assert.equal(attached.stdout, `${id} onhost\n`);
    await e.docker('rm', '-f', 'onhost');
    const missing = await e.docker('network', 'inspect', 'nosuch');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /network nosuch not found/);
    const prune = await e.docker('network', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal(prune.stdout, '');
    const create = await e.docker('network', 'create', 'mynet');
    assert.equal(create.code, 1);
    assert.match(create.stderr, /berth has no user-defined networks yet: use --network none or host/);
  });

  test('system prune -f goes through (containers, networks, images, build cache)', async () => {
    assert.equal((await e.docker('create', '--name', 'stale', 'busybox', 'true')).code, 0);
    const r = await e.docker('system', 'prune', '-f');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
    assert.equal((await e.docker('ps', '-aq')).stdout, '');
    assert.equal((await e.docker('images', '-q', 'busybox')).stdout.trim().length, 12, 'the image is still there');
  });

  test('run --network mynet: a clear error at create, exit 125, and no pull is attempted', async () => {
    const before = e.d.log().length;
    const r = await e.docker('run', '--rm', '--network', 'mynet', 'busybox', 'true');
    assert.equal(r.code, 125);
    assert.match(r.stderr, /Error response from daemon: network mynet not found: berth has no user-defined networks yet: use --network none or host/);
    assert.doesNotMatch(r.stderr, /Unable to find image|pull/i);
    const requests = e.d.log().slice(before);
    assert.match(requests, /POST \/v[\d.]+\/containers\/create\S* 400/);
    assert.doesNotMatch(requests, /\/images\/create/, 'the docker CLI did not go to pull the image');
    assert.equal((await e.docker('ps', '-aq')).stdout, '');
  });

  test('--network container:<name>: same network namespace and hostname; clear errors otherwise', async () => {
    const owner = (await e.docker('run', '-d', '--name', 'netowner', '--network', 'none', 'busybox', 'sleep', '60')).stdout.trim();
    const ownerNs = (await e.docker('exec', 'netowner', 'readlink', '/proc/self/ns/net')).stdout;
    const joined = await e.docker('run', '--rm', '--network', 'container:netowner', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/net; hostname; cat /etc/hostname');
    assert.equal(joined.code, 0, joined.stderr);
    assert.equal(joined.stdout, `${ownerNs}${owner.slice(0, 12)}\n${owner.slice(0, 12)}\n`);
    const missing = await e.docker('run', '--rm', '--network', 'container:nosuch', 'busybox', 'true');
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /network mode container:nosuch: No such container: nosuch/);
    await e.docker('create', '--name', 'sleeper', 'busybox', 'true');
    const stopped = await e.docker('run', '--rm', '--network', 'container:sleeper', 'busybox', 'true');
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.stderr, /cannot join network of a non running container: sleeper/);
    const hostname = await e.docker('run', '--rm', '-h', 'mine', '--network', 'container:netowner', 'busybox', 'true');
    assert.equal(hostname.code, 125);
    assert.match(hostname.stderr, /conflicting options: hostname and the network mode/);
    const all = (await e.docker('ps', '-aq')).stdout.split('\n').filter(Boolean);
    if (all.length) await e.docker('rm', '-f', ...all);
  });
});

describe('docker-compose 1.29: a named volume', () => {
  let e: Env;
  let project: string;
  const compose = (...args: string[]): Promise<Run> =>
    runCommand('docker-compose', ['--project-directory', project, '-f', join(project, 'docker-compose.yml'), '-p', 'vproj', ...args], {
      env: { DOCKER_HOST: e.d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
  before(async () => {
    e = await setup('berth-e2e-volnet-compose-');
    project = join(e.work, 'proj');
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, 'docker-compose.yml'),
      `version: "3"
services:
  app:
    image: busybox:latest
    network_mode: none
    command: sh -c 'ls /etc > /data/etc-list; exec sleep 300'
    volumes:
      - appdata:/data
volumes:
  appdata:
`,
    );
  });
  after(async () => {
    if (e) await compose('down', '-v', '-t', '1').catch(() => {});
    await e?.stop();
  });

  test('up creates the volume with the project\'s labels, the container writes to it, down -v removes it', async () => {
    const up = await compose('up', '-d');
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /Creating volume "vproj_appdata" with default driver/);
    const label = await e.docker('volume', 'inspect', '-f', '{{index .Labels "com.docker.compose.project"}} {{index .Labels "com.docker.compose.volume"}}', 'vproj_appdata');
    assert.equal(label.stdout, 'vproj appdata\n');
    const mountpoint = (await e.docker('volume', 'inspect', '-f', '{{.Mountpoint}}', 'vproj_appdata')).stdout.trim();
    let list = '';
    for (let i = 0; i < 50 && !list; i++) {
      list = existsSync(join(mountpoint, 'etc-list')) ? readFileSync(join(mountpoint, 'etc-list'), 'utf8') : '';
      if (!list) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(list, 'group\nhostname\nhosts\npasswd\nresolv.conf\n');
    const down = await compose('down', '-v', '-t', '1');
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /Removing volume vproj_appdata/);
    assert.equal((await e.docker('volume', 'ls', '-q')).stdout, '');
  });
});

describe('berth CLI: volume and network commands', () => {
  let e: Env;
  before(async () => {
    e = await setup('berth-e2e-volnet-berth-');
  });
  after(async () => {
    await e?.stop();
  });

  test('volume create, ls (table, -q, --format, -f), inspect, rm, prune', async () => {
    assert.equal((await e.berth('volume', 'create', 'bvol')).stdout, 'bvol\n');
    assert.equal((await e.berth('volume', 'create', '--label', 'tier=db', '--label', 'flag', 'labelled')).stdout, 'labelled\n');
    const anon = (await e.berth('volume', 'create')).stdout.trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    const ls = await e.berth('volume', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^DRIVER {4}VOLUME NAME\n(local {5}\S+\n){3}$/);
    assert.equal(ls.stdout, (await e.docker('volume', 'ls')).stdout, 'the same table, in the same order, as the docker CLI');
    assert.equal((await e.berth('volume', 'ls', '-q', '-f', 'label=tier=db')).stdout, 'labelled\n');
    assert.equal((await e.berth('volume', 'ls', '--format', '{{.Name}}: {{.Labels}}', '-f', 'name=^labelled$')).stdout, 'labelled: flag=,tier=db\n');
    assert.equal((await e.berth('volume', 'ls', '--format', 'table {{.Name}}\t{{.Scope}}', '-f', 'name=bvol')).stdout, 'VOLUME NAME   SCOPE\nbvol          local\n');
    for (const filter of ['name=bvol', 'label=com.docker.volume.anonymous']) {
      const dockerJson = (await e.docker('volume', 'ls', '--format', 'json', '-f', filter)).stdout;
      assert.equal((await e.berth('volume', 'ls', '--format', 'json', '-f', filter)).stdout, dockerJson, 'the same JSON lines as the docker CLI');
    }
    const inspect = JSON.parse((await e.berth('volume', 'inspect', 'bvol')).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(inspect, JSON.parse((await e.docker('volume', 'inspect', 'bvol')).stdout));
    assert.equal((await e.berth('volume', 'inspect', '-f', '{{.Driver}}/{{.Name}}', 'bvol', 'labelled')).stdout, 'local/bvol\nlocal/labelled\n');
    assert.equal((await e.berth('inspect', '-f', '{{.Mountpoint}}', 'bvol')).stdout, `${join(e.d.dataRoot, 'volumes/bvol/_data')}\n`);
    assert.equal((await e.berth('inspect', '--type', 'volume', '-f', '{{.Name}}', 'bvol')).stdout, 'bvol\n');
    const missing = await e.berth('volume', 'inspect', 'nosuch');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error response from daemon: get nosuch: no such volume\n');
    const bad = await e.berth('volume', 'create', '-d', 'nfs', 'nfsvol');
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error response from daemon: volume driver "nfs" is not supported: berth has only the "local" volume driver\n');

    const run = await e.berth('run', '--name', 'user', '-v', 'bvol:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f');
    assert.equal(run.code, 0, run.stderr);
    const busy = await e.berth('volume', 'rm', 'bvol', 'nosuch');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^Error response from daemon: remove bvol: volume is in use - \[[0-9a-f]{64}\]\nError response from daemon: get nosuch: no such volume\n$/);
    assert.equal((await e.berth('volume', 'rm', '-f', 'nosuch')).code, 0);
    assert.equal((await e.berth('run', '--rm', '-v', 'bvol:/data', 'busybox', 'cat', '/data/f')).stdout, 'kept\n');
    await e.berth('rm', 'user');

    const declined = await e.berthIn('n\n', 'volume', 'prune');
    assert.match(declined.stdout, /^WARNING! This will remove anonymous local volumes not used by at least one container\.\nAre you sure you want to continue\? \[y\/N\] $/);
    assert.match((await e.berth('volume', 'ls', '-q')).stdout, new RegExp(anon));
    const prune = await e.berthIn('y\n', 'volume', 'prune');
    assert.match(prune.stdout, new RegExp(`Deleted Volumes:\\n${anon}\\n\\nTotal reclaimed space: 0B\\n$`));
    const all = await e.berth('volume', 'prune', '-a', '-f', '--filter', 'label=tier');
    assert.equal(all.stdout, 'Deleted Volumes:\nlabelled\n\nTotal reclaimed space: 0B\n');
    assert.equal((await e.berth('volume', 'rm', 'bvol')).stdout, 'bvol\n');
    assert.equal((await e.berth('volume', 'ls', '-q')).stdout, '');
    const help = await e.berth('volume', '--help');
    assert.match(help.stdout, /Commands:\n  create .*\n  inspect .*\n  ls .*\n  prune .*\n  rm /);
  });

  test('network ls (table, -q, --no-trunc, --format json), inspect, prune; system prune -f', async () => {
    const ls = await e.berth('network', 'ls');
    assert.equal(ls.stdout, (await e.docker('network', 'ls')).stdout, 'the same table as the docker CLI');
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
    assert.equal((await e.berth('network', 'ls', '--format', 'json')).stdout, (await e.docker('network', 'ls', '--format', 'json')).stdout);
    assert.equal((await e.berth('network', 'ls', '-q', '--no-trunc')).stdout, (await e.docker('network', 'ls', '-q', '--no-trunc')).stdout);
    assert.equal((await e.berth('network', 'ls', '-q', '-f', 'name=none')).stdout.length, 13);
    assert.equal((await e.berth('network', 'inspect', '-f', '{{.Name}}={{.Driver}}', 'host', 'none')).stdout, 'host=host\nnone=null\n');
    assert.equal((await e.berth('inspect', '-f', '{{.Driver}}', 'none')).stdout, 'null\n');
    const notNetwork = await e.berth('inspect', '--type', 'network', 'busybox');
    assert.equal(notNetwork.stderr, 'Error: No such network: busybox\n');
    assert.deepEqual(JSON.parse((await e.berth('network', 'inspect', 'none')).stdout), JSON.parse((await e.docker('network', 'inspect', 'none')).stdout));
    const missing = await e.berth('network', 'inspect', 'nosuch');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error response from daemon: network nosuch not found\n');
    const prune = await e.berth('network', 'prune', '-f');
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal(prune.stdout, '');
    const unknown = await e.berth('network', 'create', 'mynet');
    assert.equal(unknown.code, 1);
    await e.berth('create', '--name', 'stale', 'busybox', 'true');
    const sys = await e.berth('system', 'prune', '-f');
    assert.equal(sys.code, 0, sys.stderr);
    assert.match(sys.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
    const run = await e.berth('run', '--rm', '--network', 'mynet', 'busybox', 'true');
    assert.equal(run.code, 125);
    assert.match(run.stderr, /network mynet not found: berth has no user-defined networks yet: use --network none or host/);
  });
});
