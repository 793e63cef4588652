import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRegistryArgs } from '../../../src/registry/main.ts';
import { parseAddr } from '../../../src/registry/server.ts';
import { BerthError } from '../../../src/common/errors.ts';

test('registry serve arguments: --addr/--root, = forms, defaults and help', () => {
  assert.deepEqual(parseRegistryArgs(['serve', '--addr', '127.0.0.1:5001', '--root', '/r']), { command: 'serve', addr: '127.0.0.1:5001', root: '/r' });
  assert.deepEqual(parseRegistryArgs(['serve', '--root=/r', '--addr=:0']), { command: 'serve', addr: ':0', root: '/r' });
  assert.deepEqual(parseRegistryArgs(['serve', '--root', '/r']), { command: 'serve', addr: '127.0.0.1:5000', root: '/r' });
  assert.deepEqual(parseRegistryArgs(['gc', '--root', '/r']), { command: 'gc', root: '/r', dryRun: false });
  assert.deepEqual(parseRegistryArgs(['gc', '--dry-run', '--root=/r']), { command: 'gc', root: '/r', dryRun: true });
  assert.equal(parseRegistryArgs([]), 'help');
  assert.equal(parseRegistryArgs(['serve', '--help']), 'help');
});

test('bad registry arguments are BERTH_REGISTRY_USAGE errors naming the problem', () => {
  const cases: [string[], RegExp][] = [
    [['serve'], /--root DIR is required/],
    [['serve', '--root'], /--root needs a value/],
    [['serve', '--root', '/r', '--port', '1'], /unknown flag "--port"/],
    [['start'], /unknown registry command "start"/],
    [['gc', '--root', '/r', '--addr', ':1'], /unknown flag "--addr"/],
    [['serve', '--root', '/r', '--dry-run'], /unknown flag "--dry-run"/],
  ];
  for (const [argv, msg] of cases) {
    assert.throws(() => parseRegistryArgs(argv), (err: unknown) => err instanceof BerthError && err.code === 'BERTH_REGISTRY_USAGE' && msg.test(err.message), argv.join(' '));
  }
});

test('listen addresses: host:port, [v6]:port, :port; bad ones are refused', () => {
  assert.deepEqual(parseAddr('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseAddr('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseAddr(':5000'), { host: '0.0.0.0', port: 5000 });
  assert.deepEqual(parseAddr('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['127.0.0.1', '127.0.0.1:99999', 'host:port', '::1:5000', '']) {
    assert.throws(() => parseAddr(bad), (err: unknown) => err instanceof BerthError && err.code === 'BERTH_REGISTRY_INVALID_ADDR', bad);
  }
});
