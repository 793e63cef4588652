/**
 * /volumes and /networks on the wire against a real berthd: Docker's shapes
 * (keys, nulls), statuses (201, 204, 400, 403, 404, 409, 501) and messages;
 * the API-version rule of volume prune; /system/df's UsageData; a container
 * create naming an unknown network answered 400, never the 404 the docker CLI
 * would take for a missing image; and NetworkMode container:<x>.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { readFileSync, readlinkSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { runCommand, DOCKER } from '../../e2e/containers/helpers.ts';

interface Answer {
  status: number;
  body: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

function call(socketPath: string, method: string, path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath, method, path, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('volume and network endpoints on the wire', () => {
  let d: TestDaemon;
  let work: string;
  const api = (method: string, path: string, body?: unknown, version = '1.45') => call(d.socketPath, method, `/v${version}${path}`, body);
  const q = (filters: Record<string, string[]>) => `filters=${encodeURIComponent(JSON.stringify(filters))}`;
  const create = async (body: Record<string, unknown>, name?: string) => {
    const r = await api('POST', `/containers/create${name ? `?name=${name}` : ''}`, { Image: 'busybox', ...body });
    assert.equal(r.status, 201, r.body);
    return r.json.Id as string;
  };

  before(async () => {
    work = await makeTempDir('berth-api-vol-');
    d = await startDaemon();
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
    const r = await runCommand(DOCKER, ['-H', d.host, 'import', join(work, 'busybox.tar'), 'busybox:latest'], { env: { DOCKER_CONFIG: join(work, 'cfg') } });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    const list = await api('GET', '/containers/json?all=1').catch(() => undefined);
    for (const c of (list?.json as Array<{ Id: string }> | undefined) ?? []) await api('DELETE', `/containers/${c.Id}?force=1`);
    await d?.stop();
    await removeTempDir(work);
  });

  test('create, list, inspect: Docker\'s shapes; a random 64-hex name and the anonymous label without a Name', async () => {
    const empty = await api('GET', '/volumes');
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json, { Volumes: [], Warnings: null });
    const c = await api('POST', '/volumes/create', { Name: 'apivol', Labels: { team: 'a' } });
    assert.equal(c.status, 201, c.body);
    assert.deepEqual(Object.keys(c.json).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(c.json.Mountpoint, join(d.dataRoot, 'volumes/apivol/_data'));
    assert.deepEqual([c.json.Driver, c.json.Scope, c.json.Labels, c.json.Options], ['local', 'local', { team: 'a' }, null]);
    const anon = await api('POST', '/volumes/create', {});
    assert.equal(anon.status, 201);
    assert.match(anon.json.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.json.Labels, { 'com.docker.volume.anonymous': '' });
    const bodiless = await api('POST', '/volumes/create');
    assert.equal(bodiless.status, 201, 'no body at all is an anonymous volume too');
    const got = await api('GET', '/volumes/apivol');
    assert.deepEqual(got.json, c.json);
    const byName = await api('GET', `/volumes?${q({ name: ['apiv'] })}`);
    assert.deepEqual(byName.json.Volumes.map((v: { Name: string }) => v.Name), ['apivol']);
    const byLabel = await api('GET', `/volumes?${q({ label: ['team=a'] })}`);
    assert.deepEqual(byLabel.json.Volumes.map((v: { Name: string }) => v.Name), ['apivol']);
    for (const v of [anon.json.Name, bodiless.json.Name]) assert.equal((await api('DELETE', `/volumes/${v}`)).status, 204);
  });

  test('bad input: 400 with a message saying what is wrong; missing: 404 "no such volume"', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ Name: 'bad/name' }, /^create bad\/name: "bad\/name" includes invalid characters for a local volume name/],
      [{ Name: 'x' }, /includes invalid characters/],
      [{ Name: 'nfsvol', Driver: 'nfs' }, /^volume driver "nfs" is not supported: berth has only the "local" volume driver$/],
      [{ Name: 'tmpvol', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } }, /not supported by berth: only plain volumes and bind volumes/],
      [{ Name: 'keyvol', DriverOpts: { colour: 'red' } }, /^invalid option key: "colour"$/],
      [{ Name: 'bindvol', DriverOpts: { type: 'none', o: 'bind', device: '/no/such/dir' } }, /device \/no\/such\/dir is not an existing directory/],
    ];
    for (const [body, message] of cases) {
      const r = await api('POST', '/volumes/create', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.match(r.json.message, message);
    }
    assert.equal((await api('GET', '/volumes?filters={"colour":["red"]}')).status, 400);
    const missing = await api('GET', '/volumes/nosuch');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { message: 'get nosuch: no such volume' });
    assert.equal((await api('DELETE', '/volumes/nosuch')).status, 404);
    assert.equal((await api('DELETE', '/volumes/nosuch?force=1')).status, 204);
    const list = await api('GET', '/volumes');
    assert.deepEqual(list.json.Volumes.map((v: { Name: string }) => v.Name), ['apivol'], 'refused creates left nothing');
  });

  test('delete: 409 while a container refers to the volume, 204 once it is gone', async () => {
    const id = await create({ Cmd: ['true'], HostConfig: { NetworkMode: 'none', Binds: ['apivol:/data'] } });
    const busy = await api('DELETE', '/volumes/apivol');
    assert.equal(busy.status, 409);
    assert.equal(busy.json.message, `remove apivol: volume is in use - [${id}]`);
    assert.equal((await api('DELETE', '/volumes/apivol?force=1')).status, 409);
    const dangling = await api('GET', `/volumes?${q({ dangling: ['true'] })}`);
    assert.deepEqual(dangling.json.Volumes, []);
    assert.equal((await api('DELETE', `/containers/${id}`)).status, 204);
    const del = await api('DELETE', '/volumes/apivol');
    assert.equal(del.status, 204);
    assert.equal(del.body, '');
  });

  test('prune: anonymous only from API 1.42 (unless all=true), every unused volume for older clients; /system/df reports UsageData', async () => {
    for (const body of [{ Name: 'named1' }, { Name: 'named2' }, {}]) assert.equal((await api('POST', '/volumes/create', body)).status, 201);
    const id = await create({ Cmd: ['sh', '-c', 'echo hello > /u/f'], HostConfig: { NetworkMode: 'none', Binds: ['named2:/u'] } });
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
    await api('POST', `/containers/${id}/wait`);
    const df = await api('GET', '/system/df');
    const usage = Object.fromEntries(df.json.Volumes.map((v: { Name: string; UsageData: unknown }) => [v.Name, v.UsageData]));
    assert.deepEqual(usage.named1, { Size: 0, RefCount: 0 });
    assert.deepEqual(usage.named2, { Size: 6, RefCount: 1 });
    const p1 = await api('POST', '/volumes/prune');
    assert.equal(p1.status, 200);
    assert.equal(p1.json.VolumesDeleted.length, 1);
    assert.match(p1.json.VolumesDeleted[0], /^[0-9a-f]{64}$/);
    assert.equal(p1.json.SpaceReclaimed, 0);
    const bad = await api('POST', `/volumes/prune?${q({ until: ['1h'] })}`);
    assert.equal(bad.status, 400);
    const old = await api('POST', '/volumes/prune', undefined, '1.41');
    assert.deepEqual(old.json, { VolumesDeleted: ['named1'], SpaceReclaimed: 0 });
    assert.equal((await api('DELETE', `/containers/${id}`)).status, 204);
    const all = await api('POST', `/volumes/prune?${q({ all: ['true'] })}`);
    assert.deepEqual(all.json, { VolumesDeleted: ['named2'], SpaceReclaimed: 6 });
    const none = await api('POST', '/volumes/prune');
    assert.deepEqual(none.json, { VolumesDeleted: [], SpaceReclaimed: 0 });
  });

  test('networks: none and host in dockerd\'s shape, filters, inspect by name, id and prefix with running containers attached', async () => {
    const list = await api('GET', '/networks');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.map((n: { Name: string; Driver: string }) => `${n.Name}/${n.Driver}`), ['host/host', 'none/null']);
    const none = list.json[1];
    assert.deepEqual(Object.keys(none), [
      'Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels',
    ]);
    assert.match(none.Id, /^[0-9a-f]{64}$/);
    assert.deepEqual(none.IPAM, { Driver: 'default', Options: null, Config: null });
    assert.equal(none.Scope, 'local');
    const names = async (filters: Record<string, string[]>) => (await api('GET', `/networks?${q(filters)}`)).json.map((n: { Name: string }) => n.Name);
    assert.deepEqual(await names({ driver: ['null'] }), ['none']);
    assert.deepEqual(await names({ name: ['^ho'] }), ['host']);
    assert.deepEqual(await names({ id: [none.Id.slice(0, 10)] }), ['none']);
    assert.deepEqual(await names({ type: ['custom'] }), []);
    assert.deepEqual(await names({ type: ['builtin'], scope: ['local'] }), ['host', 'none']);
    assert.deepEqual(await names({ dangling: ['true'] }), []);
    assert.deepEqual(await names({ label: ['a'] }), []);
    assert.equal((await api('GET', `/networks?${q({ colour: ['red'] })}`)).status, 400);
    assert.equal((await api('GET', `/networks?${q({ type: ['weird'] })}`)).status, 400);
    const a = await create({ Cmd: ['sleep', '60'], HostConfig: { NetworkMode: 'none' } }, 'net-none');
    const h = await create({ Cmd: ['sleep', '60'], HostConfig: { NetworkMode: 'host' } }, 'net-host');
    const stopped = await create({ Cmd: ['true'], HostConfig: { NetworkMode: 'none' } }, 'net-stopped');
    for (const id of [a, h]) assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
    for (const ref of ['none', none.Id, none.Id.slice(0, 12)]) {
      const one = await api('GET', `/networks/${ref}`);
      assert.equal(one.status, 200, ref);
      assert.deepEqual(Object.keys(one.json.Containers), [a], `${ref}: the running container only`);
      assert.deepEqual({ ...one.json.Containers[a], EndpointID: '' }, { Name: 'net-none', EndpointID: '', MacAddress: '', IPv4Address: '', IPv6Address: '' });
    }
    const inspectA = await api('GET', `/containers/${a}/json`);
    assert.equal(inspectA.json.NetworkSettings.Networks.none.NetworkID, none.Id);
    assert.equal((await api('GET', '/networks/none')).json.Containers[a].EndpointID, inspectA.json.NetworkSettings.Networks.none.EndpointID);
    assert.deepEqual(Object.keys((await api('GET', '/networks/host')).json.Containers), [h]);
    const missing = await api('GET', '/networks/nosuch');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { message: 'network nosuch not found' });
    for (const id of [a, h, stopped]) await api('DELETE', `/containers/${id}?force=1`);
  });

  test('networks: prune finds nothing; create, connect, disconnect are 501 with what to use; the predefined ones cannot be removed', async () => {
    const prune = await api('POST', '/networks/prune');
    assert.equal(prune.status, 200);
    assert.deepEqual(prune.json, { NetworksDeleted: [] });
    const created = await api('POST', '/networks/create', { Name: 'mynet', Driver: 'bridge' });
    assert.equal(created.status, 501);
    assert.equal(created.json.message, 'cannot create network mynet: berth has no user-defined networks yet: use --network none or host');
    for (const action of ['connect', 'disconnect']) {
      const r = await api('POST', `/networks/none/${action}`, { Container: 'x' });
      assert.equal(r.status, 501, action);
      assert.match(r.json.message, /berth has no user-defined networks yet: use --network none or host/);
    }
    const rmNone = await api('DELETE', '/networks/none');
    assert.equal(rmNone.status, 403);
    assert.equal(rmNone.json.message, 'none is a pre-defined network and cannot be removed');
    assert.equal((await api('DELETE', '/networks/nosuch')).status, 404);
  });

  test('container create with a network berth does not have: 400 with a clear message, never a 404', async () => {
    for (const mode of ['mynet', 'project_default']) {
      const r = await api('POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: { NetworkMode: mode },
        NetworkingConfig: { EndpointsConfig: { [mode]: {} } },
      });
      assert.equal(r.status, 400, r.body);
      assert.equal(r.json.message, `network ${mode} not found: berth has no user-defined networks yet: use --network none or host`);
    }
    const containers = await api('GET', '/containers/json?all=1');
    assert.deepEqual(containers.json, [], 'nothing was created');
  });

  test('NetworkMode container:<x>: joins the running container\'s network namespace, hostname and /etc files; clear 400/409 otherwise', async () => {
    const bad: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [{}, { NetworkMode: 'container:' }, /^Invalid network mode: invalid container format container:<name\|id>$/],
      [{}, { NetworkMode: 'container:nosuch' }, /^network mode container:nosuch: No such container: nosuch$/],
      [{ Hostname: 'h' }, { NetworkMode: 'container:x' }, /^conflicting options: hostname and the network mode$/],
      [{}, { NetworkMode: 'container:x', Dns: ['1.1.1.1'] }, /^conflicting options: dns and the network mode$/],
      [{}, { NetworkMode: 'container:x', ExtraHosts: ['a:1.2.3.4'] }, /^conflicting options: custom host-to-IP mapping and the network mode$/],
    ];
    for (const [config, hostConfig, message] of bad) {
      const r = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], ...config, HostConfig: hostConfig });
      assert.equal(r.status, 400, r.body);
      assert.match(r.json.message, message);
    }
    const owner = await create({ Cmd: ['sleep', '60'], Hostname: 'owner-host', HostConfig: { NetworkMode: 'none' } }, 'netowner');
    const joiner = await create({ Cmd: ['sleep', '60'], HostConfig: { NetworkMode: 'container:netowner' } }, 'netjoiner');
    const early = await api('POST', `/containers/${joiner}/start`);
    assert.equal(early.status, 409);
    assert.equal(early.json.message, 'cannot join network of a non running container: netowner');
    assert.equal((await api('POST', `/containers/${owner}/start`)).status, 204);
    assert.equal((await api('POST', `/containers/${joiner}/start`)).status, 204);
    const [o, j] = [(await api('GET', `/containers/${owner}/json`)).json, (await api('GET', `/containers/${joiner}/json`)).json];
    assert.equal(readlinkSync(`/proc/${j.State.Pid}/ns/net`), readlinkSync(`/proc/${o.State.Pid}/ns/net`));
    assert.notEqual(readlinkSync(`/proc/${j.State.Pid}/ns/net`), readlinkSync('/proc/self/ns/net'));
    assert.notEqual(readlinkSync(`/proc/${j.State.Pid}/ns/uts`), readlinkSync(`/proc/${o.State.Pid}/ns/uts`), 'a UTS namespace of its own');
    assert.equal(j.Config.Hostname, 'owner-host');
    assert.deepEqual([j.HostnamePath, j.HostsPath, j.ResolvConfPath], [o.HostnamePath, o.HostsPath, o.ResolvConfPath]);
    assert.equal(j.HostConfig.NetworkMode, 'container:netowner');
    assert.deepEqual(j.NetworkSettings.Networks, {});
    assert.equal(readFileSync(`/proc/${j.State.Pid}/root/etc/hostname`, 'utf8'), 'owner-host\n', "the owner's /etc/hostname, seen from inside");
    // The joiner is not listed on any network; the owner is on none.
    assert.deepEqual(Object.keys((await api('GET', '/networks/none')).json.Containers), [owner]);
    for (const id of [joiner, owner]) await api('DELETE', `/containers/${id}?force=1`);
  });
});
