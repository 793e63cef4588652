/**
 * The runtime as berthd uses it: the library API, no CLI and no Node process
 * per container — the launcher either exits once the container is created or
 * stays as a small native monitor that records the exit status.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpec } from '../../../src/runtime/default-spec.ts';
import { containerState, createContainer, deleteContainer, killContainer, runContainer, startContainer } from '../../../src/runtime/container.ts';
import { buildNative, makeBundle, makeRuntimeRoot, processesUnder } from './harness.ts';
import type { Bundle } from './harness.ts';

let env: Awaited<ReturnType<typeof makeRuntimeRoot>>;
let bundle: Bundle;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configure(args: string[]): void {
  bundle.spec = defaultSpec();
  bundle.spec.process!.terminal = false;
  bundle.spec.process!.args = args;
  bundle.write();
}

describe('runtime library (berthd path)', () => {
  before(async () => {
    buildNative();
    env = await makeRuntimeRoot();
    bundle = await makeBundle(env.tmp);
  });
  after(async () => {
    await env.cleanup();
  });

  test('create with an exit file: a native monitor reaps the container and records its status', async () => {
    configure(['sh', '-c', 'exit 3']);
    const exitFile = join(env.tmp, 'm1.exit');
    const c = await createContainer({ id: 'm1', bundle: bundle.dir, root: env.root, exitFile, stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      const monitor = c.launch.child.pid!;
      assert.match(readFileSync(`/proc/${monitor}/cmdline`, 'utf8'), /berth-launcher/);
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${monitor}/status`, 'utf8'))![1]);
      assert.ok(rssKb < 8 * 1024, `the monitor is small (${rssKb} kB)`);
      assert.equal(containerState(env.root, 'm1').status, 'created');
      await startContainer(env.root, 'm1');
      for (let i = 0; i < 500 && !existsSync(exitFile); i++) await sleep(10);
      assert.equal(readFileSync(exitFile, 'utf8'), '3\n');
      assert.equal(containerState(env.root, 'm1').status, 'stopped');
    } finally {
      await deleteContainer(env.root, 'm1', true);
    }
  });

  test('a killed container is recorded as 128+signal', async () => {
    configure(['sleep', '1000']);
    const exitFile = join(env.tmp, 'm2.exit');
    await createContainer({ id: 'm2', bundle: bundle.dir, root: env.root, exitFile, stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      await startContainer(env.root, 'm2');
      assert.equal(containerState(env.root, 'm2').status, 'running');
      killContainer(env.root, 'm2', 9);
      for (let i = 0; i < 500 && !existsSync(exitFile); i++) await sleep(10);
      assert.equal(readFileSync(exitFile, 'utf8'), '137\n');
    } finally {
      await deleteContainer(env.root, 'm2', true);
    }
    assert.deepEqual(processesUnder(bundle.rootfs), []);
  });

  test('runContainer returns the exit status and removes the container', async () => {
    configure(['sh', '-c', 'exit 42']);
    const code = await runContainer({ id: 'm3', bundle: bundle.dir, root: env.root, stdio: ['ignore', 'ignore', 'ignore'] });
    assert.equal(code, 42);
    assert.equal(existsSync(join(env.root, 'm3')), false);
  });
});
