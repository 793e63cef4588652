/**
 * The container endpoints on the wire, checked against the shapes of
 * protocol-traces/ (docker-run-rm, docker-exec, docker-logs, docker-stop):
 * status codes, the 101 hijack, 8-byte stream framing, wait headers sent
 * before the container exits, the client's half-close — and every bad input
 * answered with Docker's status and a message saying what was wrong.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { makeBusyboxTar } from '../../helpers/busybox.ts';
import { runCommand, DOCKER } from '../../e2e/containers/helpers.ts';

interface Answer {
  status: number;
  head: string;
  body: Buffer;
}

/** One raw HTTP/1.1 request; the whole answer until the server closes. */
function request(sock: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    const chunks: Buffer[] = [];
    s.on('connect', () => {
      const b = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      const h = { Host: 'x', 'Content-Length': String(Buffer.byteLength(b)), Connection: 'close', ...(b && typeof body !== 'string' ? { 'Content-Type': 'application/json' } : {}), ...headers };
      s.write(`${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${b}`);
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end).toString('latin1');
      let rest = all.subarray(end + 4);
      if (/transfer-encoding: chunked/i.test(head)) {
        const parts: Buffer[] = [];
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = parseInt(rest.subarray(0, nl).toString(), 16);
          if (!size) break;
          parts.push(rest.subarray(nl + 2, nl + 2 + size));
          rest = rest.subarray(nl + 4 + size);
        }
        rest = Buffer.concat(parts);
      }
      resolve({ status: Number(head.split(' ')[1]), head, body: rest });
    });
  });
}

const json = (a: Answer) => JSON.parse(a.body.toString()) as Record<string, unknown>;

describe('container endpoints on the wire', () => {
  let d: TestDaemon;
  let work: string;
  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(d.socketPath, method, `/v1.41${path}`, body, headers);
  const create = async (body: Record<string, unknown>, name?: string) => {
    const r = await api('POST', `/containers/create${name ? `?name=${name}` : ''}`, { Image: 'busybox', HostConfig: { NetworkMode: 'none' }, ...body });
    assert.equal(r.status, 201, r.body.toString());
    return json(r).Id as string;
  };

  before(async () => {
    work = await makeTempDir('berth-api-ctr-');
    d = await startDaemon();
    await makeBusyboxTar(work, join(work, 'busybox.tar'));
    const r = await runCommand(DOCKER, ['-H', d.host, 'import', join(work, 'busybox.tar'), 'busybox:latest'], { env: { DOCKER_CONFIG: join(work, 'cfg') } });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    const list = await api('GET', '/containers/json?all=1').catch(() => undefined);
    for (const c of list ? (JSON.parse(list.body.toString()) as Array<{ Id: string }>) : []) await api('DELETE', `/containers/${c.Id}?force=1`);
    await d?.stop();
    await removeTempDir(work);
  });

  test('create answers 201 {"Id","Warnings":[]}; attach hijacks with 101 and frames output; wait streams headers first', async () => {
    const id = await create({ Cmd: ['sh', '-c', 'sleep 0.3; echo hi; echo oops >&2'], AttachStdout: true, AttachStderr: true, HostConfig: { NetworkMode: 'none', AutoRemove: true } });
    assert.match(id, /^[0-9a-f]{64}$/);
    // attach before start, as docker run does (trace: docker-run-rm.txt)
    const attach: Socket = connect(d.socketPath);
    const got: Buffer[] = [];
    await new Promise<void>((r) => attach.on('connect', () => r()));
    attach.write(`POST /v1.41/containers/${id}/attach?stderr=1&stdout=1&stream=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nContent-Type: text/plain\r\nUpgrade: tcp\r\n\r\n`);
    attach.on('data', (b: Buffer) => got.push(b));
    const attachClosed = new Promise<void>((r) => attach.on('close', () => r()));
    // wait=removed: the headers come at once, the body when the container is gone.
    const wait = connect(d.socketPath);
    const waitData: Buffer[] = [];
    let firstWaitByteAt = 0;
    wait.on('data', (b: Buffer) => {
      if (!firstWaitByteAt) firstWaitByteAt = Date.now();
      waitData.push(b);
    });
    const waitClosed = new Promise<void>((r) => wait.on('close', () => r()));
    await new Promise<void>((r) => wait.on('connect', () => r()));
    wait.write(`POST /v1.41/containers/${id}/wait?condition=removed HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(firstWaitByteAt > 0, 'wait sent its headers before the container started');
    attach.end(); // the CLI half-closes: it has no stdin
    const start = await api('POST', `/containers/${id}/start`);
    assert.equal(start.status, 204);
    assert.doesNotMatch(start.head, /Content-Length|Content-Type/i, '204 without body headers (trace: docker-run-rm.txt)');
    await attachClosed;
    await waitClosed;
    const raw = Buffer.concat(got);
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n') + 4).toString();
    assert.match(head, /^HTTP\/1\.1 101 UPGRADED\r\nContent-Type: application\/vnd\.docker\.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n/);
    const frames = raw.subarray(head.length);
    assert.deepEqual(
      frames,
      Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('hi\n'), Buffer.from([2, 0, 0, 0, 0, 0, 0, 5]), Buffer.from('oops\n')]),
    );
    const waitText = Buffer.concat(waitData).toString();
    assert.match(waitText, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(waitText, /Transfer-Encoding: chunked\r\n/);
    assert.match(waitText, /\r\n1e\r\n\{"Error":null,"StatusCode":0\}\n\r\n0\r\n\r\n$/);
    assert.equal((await api('GET', `/containers/${id}/json`)).status, 404);
  });

  test('start twice: 304; stop when not running: 304; logs framed per stream with timestamps', async () => {
    const id = await create({ Cmd: ['sh', '-c', 'echo started; exec sleep 300'] }, 'twice');
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 304);
    await new Promise((r) => setTimeout(r, 300));
    const logs = await api('GET', `/containers/${id}/logs?stderr=1&stdout=1&tail=all`);
    assert.equal(logs.status, 200);
    assert.doesNotMatch(logs.head, /Content-Type/i, 'no Content-Type at API 1.41 (trace: docker-logs.txt)');
    assert.deepEqual(logs.body, Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 8]), Buffer.from('started\n')]));
    const ts = await api('GET', `/containers/${id}/logs?stdout=1&timestamps=1`);
    assert.match(ts.body.subarray(8).toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z started\n$/);
    assert.equal((await api('POST', `/containers/twice/stop?t=0`)).status, 204);
    assert.equal((await api('POST', `/containers/twice/stop`)).status, 304);
    const waited = await api('POST', `/containers/twice/wait`);
    assert.deepEqual(json(waited), { Error: null, StatusCode: 137 });
    assert.equal((await api('DELETE', `/containers/twice`)).status, 204);
  });

  test('exec: create 201 {"Id"}, start hijacked and framed, inspect after exit', async () => {
    const id = await create({ Cmd: ['sleep', '300'] });
    await api('POST', `/containers/${id}/start`);
    const ex = await api('POST', `/containers/${id}/exec`, { AttachStdout: true, AttachStderr: true, Cmd: ['echo', 'x'] });
    assert.equal(ex.status, 201);
    const execId = json(ex).Id as string;
    const start = await request(d.socketPath, 'POST', `/v1.41/exec/${execId}/start`, { Detach: false, Tty: false }, { Connection: 'Upgrade', Upgrade: 'tcp' });
    assert.equal(start.status, 101);
    assert.deepEqual(start.body, Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 2]), Buffer.from('x\n')]));
    const info = json(await api('GET', `/exec/${execId}/json`));
    assert.equal(info.Running, false);
    assert.equal(info.ExitCode, 0);
    assert.deepEqual(info.ProcessConfig, { tty: false, entrypoint: 'echo', arguments: ['x'], privileged: false });
    assert.equal(info.ContainerID, id);
    // A TTY container's attach and logs are raw (no frame headers).
    const tty = await create({ Cmd: ['sh', '-c', 'echo on-tty'], Tty: true });
    await api('POST', `/containers/${tty}/start`);
    await api('POST', `/containers/${tty}/wait`);
    const logs = await api('GET', `/containers/${tty}/logs?stdout=1`);
    assert.equal(logs.body.toString(), 'on-tty\r\n');
    await api('DELETE', `/containers/${id}?force=1`);
    await api('DELETE', `/containers/${tty}`);
  });

  test('bad input: Docker statuses and messages that say what and where', async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/containers/create', '{not json', 400, /invalid JSON/],
      ['POST', '/containers/create', { Image: 'nosuch:image' }, 404, /No such image: nosuch:image/],
      ['POST', '/containers/create', {}, 400, /no image specified/],
      ['POST', '/containers/create?name=bad%20name', { Image: 'busybox' }, 400, /Invalid container name \(bad name\)/],
      ['POST', '/containers/create', { Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, 400, /invalid restart policy 'sometimes'/],
      ['POST', '/containers/create?platform=windows/amd64', { Image: 'busybox' }, 400, /linux containers only/],
      ['GET', '/containers/nosuch/json', undefined, 404, /No such container: nosuch/],
      ['POST', '/containers/nosuch/start', undefined, 404, /No such container: nosuch/],
      ['DELETE', '/containers/nosuch', undefined, 404, /No such container: nosuch/],
      ['GET', '/containers/json?filters=notjson', undefined, 400, /filters parameter is not JSON/],
      ['GET', '/containers/json?filters={"colour":["red"]}', undefined, 400, /invalid filter 'colour'/],
      ['GET', '/containers/json?limit=many', undefined, 400, /invalid value for limit/],
      ['GET', '/exec/nosuch/json', undefined, 404, /No such exec instance: nosuch/],
      ['POST', '/containers/prune?filters={"colour":["red"]}', undefined, 400, /invalid filter 'colour'/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await api(method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
      assert.match(String(json(r).message), message, `${method} ${path}`);
    }
    const id = await create({ Cmd: ['sleep', '300'] }, 'taken');
    const dup = await api('POST', '/containers/create?name=taken', { Image: 'busybox', Cmd: ['true'] });
    assert.equal(dup.status, 409, dup.body.toString());
    assert.match(String(json(dup).message), /The container name "\/taken" is already in use/);
    const notRunning = await api('POST', `/containers/${id}/kill`);
    assert.equal(notRunning.status, 409, notRunning.body.toString());
    const noExec = await api('POST', `/containers/${id}/exec`, { Cmd: ['true'] });
    assert.equal(noExec.status, 409, noExec.body.toString());
    await api('POST', `/containers/${id}/start`);
    const badSignal = await api('POST', `/containers/${id}/kill?signal=SIGNOPE`);
    assert.equal(badSignal.status, 400);
    assert.match(String(json(badSignal).message), /Invalid signal: SIGNOPE/);
    const badCondition = await api('POST', `/containers/${id}/wait?condition=eventually`);
    assert.equal(badCondition.status, 400);
    const noStreams = await api('GET', `/containers/${id}/logs`);
    assert.equal(noStreams.status, 400);
    assert.match(String(json(noStreams).message), /you must choose at least one stream/);
    const running = await api('DELETE', `/containers/${id}`);
    assert.equal(running.status, 409, running.body.toString());
    const badUpdate = await api('POST', `/containers/${id}/update`, { Memory: 1024 });
    assert.equal(badUpdate.status, 400);
    assert.match(String(json(badUpdate).message), /Minimum memory limit/);
    const badArchive = await api('GET', `/containers/${id}/archive`);
    assert.equal(badArchive.status, 400);
    const missingPath = await api('GET', `/containers/${id}/archive?path=/no/such/file`);
    assert.equal(missingPath.status, 404);
    const update = await api('POST', `/containers/${id}/update`, { Memory: 64 * 1024 * 1024, PidsLimit: 20 });
    assert.equal(update.status, 200, update.body.toString());
    const hc = json(await api('GET', `/containers/${id}/json`)).HostConfig as Record<string, unknown>;
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.equal(hc.PidsLimit, 20);
    assert.equal((await api('DELETE', `/containers/${id}?force=1`)).status, 204);
  });
});
