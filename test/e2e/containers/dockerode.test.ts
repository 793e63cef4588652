/**
 * dockerode (the Node SDK) against berthd: create, attach before start,
 * start, wait, logs, exec (hijacked, demultiplexed), inspect, remove.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { setup, type Env } from './helpers.ts';

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('dockerode on berthd', () => {
  let e: Env;
  let docker: InstanceType<typeof Docker>;
  before(async () => {
    e = await setup('berth-e2e-ctr-dockerode-');
    docker = new Docker({ socketPath: e.d.socketPath });
  });
  after(async () => {
    await e?.stop();
  });

  test('create, attach, start, wait, logs, inspect, remove', async () => {
    const c = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 2'],
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: { NetworkMode: 'none' },
    });
    const stream = (await c.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    const out = collect();
    const err = collect();
    docker.modem.demuxStream(stream, out.stream, err.stream);
    const ended = new Promise((r) => stream.on('end', r));
    const waited = c.wait({ condition: 'next-exit' });
    await c.start();
    const result = (await waited) as { StatusCode: number };
    await ended;
    assert.equal(result.StatusCode, 2);
    assert.equal(out.text(), 'to-out\n');
    assert.equal(err.text(), 'to-err\n');
    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    const lo = collect();
    const le = collect();
    const src = new PassThrough();
    docker.modem.demuxStream(src, lo.stream, le.stream);
    src.end(logs);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(lo.text(), 'to-out\n');
    assert.equal(le.text(), 'to-err\n');
    const info = await c.inspect();
    assert.equal(info.State.Status, 'exited');
    assert.equal(info.State.ExitCode, 2);
    assert.equal(info.Config.Image, 'busybox');
    await c.remove();
    await assert.rejects(c.inspect(), (x: { statusCode?: number }) => x.statusCode === 404);
  });

  test('exec: output demultiplexed, exit code in exec inspect; list and stop', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'none' }, Labels: { suite: 'dockerode' } });
    await c.start();
    const exec = await c.exec({ Cmd: ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 6'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const out = collect();
    const err = collect();
    docker.modem.demuxStream(stream, out.stream, err.stream);
    await new Promise((r) => stream.on('end', r));
    assert.equal(out.text(), 'exec-out\n');
    assert.equal(err.text(), 'exec-err\n');
    const ei = await exec.inspect();
    assert.equal(ei.ExitCode, 6);
    assert.equal(ei.Running, false);
    const listed = await docker.listContainers({ filters: { label: ['suite=dockerode'] } });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.Id, c.id);
    assert.equal(listed[0]!.State, 'running');
    await c.stop({ t: 1 });
    assert.equal((await c.inspect()).State.ExitCode, 137);
    await c.remove();
  });
});
