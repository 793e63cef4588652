import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, UsageError, type FlagSpec } from '../../../src/cli/args.ts';
import { imageRows } from '../../../src/cli/commands/images.ts';
import { ellipsis } from '../../../src/cli/commands/history.ts';
import { MessageDisplay, progressString } from '../../../src/cli/progress-display.ts';
import { filtersJson } from '../../../src/cli/command.ts';
import { resolveTarget } from '../../../src/client/connect.ts';
import { encodeQuery } from '../../../src/client/client.ts';
import { DEFAULT_SOCKET } from '../../../src/common/config.ts';

const specs: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', description: '' },
  { name: 'quiet', short: 'q', type: 'bool', description: '' },
  { name: 'format', short: 'f', type: 'string', description: '' },
  { name: 'filter', type: 'list', description: '' },
  { name: 'human', short: 'H', type: 'bool', description: '', default: 'true' },
];

describe('flag parsing', () => {
  test('long, =, short, combined shorts, lists, positionals anywhere', () => {
    const { flags, args } = parseFlags(['x', '-aq', '--format={{.ID}}', '--filter', 'a=1', '--filter=b=2', 'y'], specs, 'berth t');
    assert.deepEqual(args, ['x', 'y']);
    assert.equal(flags.all, true);
    assert.equal(flags.quiet, true);
    assert.equal(flags.format, '{{.ID}}');
    assert.deepEqual(flags.filter, ['a=1', 'b=2']);
  });
  test('-fvalue, -f value, -- ends flags, bool defaults and -H=false', () => {
    assert.equal(parseFlags(['-fX'], specs, 'b').flags.format, 'X');
    assert.equal(parseFlags(['-f', 'Y'], specs, 'b').flags.format, 'Y');
    assert.deepEqual(parseFlags(['--', '-a'], specs, 'b').args, ['-a']);
    assert.equal(parseFlags([], specs, 'b').flags.human, true);
    assert.equal(parseFlags(['-H=false'], specs, 'b').flags.human, false);
    assert.equal(parseFlags(['--human=false'], specs, 'b').flags.human, false);
  });
  test('unknown flags and missing values are usage errors naming the command', () => {
    assert.throws(() => parseFlags(['--nope'], specs, 'berth images'), (e: unknown) => e instanceof UsageError && e.message === "unknown flag: --nope\nSee 'berth images --help'.");
    assert.throws(() => parseFlags(['-z'], specs, 'berth images'), /unknown shorthand flag: 'z' in -z/);
    assert.throws(() => parseFlags(['--format'], specs, 'berth images'), /flag needs an argument: --format/);
    assert.throws(() => parseFlags(['--all=maybe'], specs, 'b'), /invalid argument "maybe"/);
  });
  test('noInterspersed stops at the first positional', () => {
    assert.deepEqual(parseFlags(['-a', 'cmd', '-q'], specs, 'b', false).args, ['cmd', '-q']);
  });
  test('filters become the API JSON', () => {
    assert.equal(filtersJson(['dangling=true', 'label=a=b']), '{"dangling":{"true":true},"label":{"a=b":true}}');
    assert.equal(filtersJson([]), undefined);
    assert.throws(() => filtersJson(['nope']), /bad format of filter/);
  });
});

describe('images rows (docker formatter semantics)', () => {
  const now = Date.UTC(2026, 10, 22, 10, 0, 0);
  const img = {
    Containers: -1,
    Created: Math.floor(now / 1000) - 20 * 60,
    Id: 'sha256:eb3898fbeb71d73c19bd58c0054ee6672a6c12f686ff9542d8416caa3a75d9c7',
    Labels: null,
    ParentId: '',
    RepoDigests: ['127.0.0.1:5000/busybox@sha256:e0b7fb502f80880526b1e765c96a24a1989fb51ee86470a93b612377f36925b3'],
    RepoTags: ['127.0.0.1:5000/busybox:latest', 'docker.io/library/busybox:1'],
    SharedSize: -1,
    Size: 1985512,
  };
  test('one row per tag with familiar names, short id, sizes and times', () => {
    const rows = imageRows([img], { digests: false, noTrunc: false, now });
    assert.deepEqual(
      rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size, r.Digest]),
      [
        ['127.0.0.1:5000/busybox', 'latest', 'eb3898fbeb71', '20 minutes ago', '1.99MB', '<none>'],
        ['busybox', '1', 'eb3898fbeb71', '20 minutes ago', '1.99MB', '<none>'],
      ],
    );
  });
  test('--digests shows the digest of the matching repository; --no-trunc the full id', () => {
    const rows = imageRows([img], { digests: true, noTrunc: true, now });
    assert.equal(rows[0]!.Digest, 'sha256:e0b7fb502f80880526b1e765c96a24a1989fb51ee86470a93b612377f36925b3');
    assert.equal(rows[1]!.Digest, '<none>');
    assert.equal(rows[0]!.ID, img.Id);
  });
  test('untagged images are <none> <none>; digest-only ones keep their repository', () => {
    assert.deepEqual(
      imageRows([{ ...img, RepoTags: [], RepoDigests: [] }], { digests: false, noTrunc: false, now }).map((r) => [r.Repository, r.Tag]),
      [['<none>', '<none>']],
    );
    assert.deepEqual(
      imageRows([{ ...img, RepoTags: null }], { digests: false, noTrunc: false, now }).map((r) => [r.Repository, r.Tag]),
      [['127.0.0.1:5000/busybox', '<none>']],
    );
  });
  test('history ellipsis cuts at 45 with …', () => {
    assert.equal(ellipsis('a'.repeat(50), 45), 'a'.repeat(44) + '…');
    assert.equal(ellipsis('short', 45), 'short');
  });
});

describe('pull/push display', () => {
  test('off a terminal: status lines only, progress bars dropped (as docker pull prints)', () => {
    let out = '';
    const d = new MessageDisplay({ write: (s: string) => (out += s) }, false);
    d.show({ status: 'Pulling from busybox', id: 'latest' });
    d.show({ status: 'Pulling fs layer', progressDetail: {}, id: '1233835d6c85' });
    d.show({ status: 'Downloading', progressDetail: { current: 1, total: 10 }, progress: '[>]', id: '1233835d6c85' });
    d.show({ status: 'Download complete', progressDetail: {}, id: '1233835d6c85' });
    d.show({ status: 'Digest: sha256:e0' });
    d.show({ stream: 'Loaded image: busybox:latest\n' });
    assert.equal(out, 'latest: Pulling from busybox\n1233835d6c85: Pulling fs layer\n1233835d6c85: Download complete\nDigest: sha256:e0\nLoaded image: busybox:latest\n');
  });
  test('on a terminal: lines rewritten in place with cursor movement and a bar', () => {
    let out = '';
    const d = new MessageDisplay({ write: (s: string) => (out += s), columns: 120 }, true);
    d.show({ status: 'Downloading', progressDetail: { current: 5, total: 10 }, id: 'abc' });
    assert.equal(out, '\n\x1b[1A\x1b[2K\rabc: Downloading [=========================>                         ]       5B/10B\r\x1b[1B');
    assert.equal(progressString(5, 10, 80), '      5B/10B');
  });
});

describe('which daemon', () => {
  test('default socket allows autostart; -H / BERTH_HOST / DOCKER_HOST do not', () => {
    assert.deepEqual(resolveTarget(undefined, {}), { socketPath: DEFAULT_SOCKET, isDefault: true });
    assert.deepEqual(resolveTarget('unix:///tmp/x.sock', {}), { socketPath: '/tmp/x.sock', isDefault: false });
    assert.deepEqual(resolveTarget(undefined, { BERTH_HOST: 'unix:///a.sock', DOCKER_HOST: 'unix:///b.sock' }), { socketPath: '/a.sock', isDefault: false });
    assert.deepEqual(resolveTarget(undefined, { DOCKER_HOST: '/b.sock' }), { socketPath: '/b.sock', isDefault: false });
    assert.throws(() => resolveTarget('tcp://1.2.3.4:2375', {}), /unix sockets/);
  });
  test('query encoding: lists repeat, booleans are 1/0, undefined dropped', () => {
    assert.equal(encodeQuery({ names: ['a', 'b:1'], force: true, x: undefined }), '?names=a&names=b%3A1&force=1');
    assert.equal(encodeQuery({}), '');
  });
});

describe('events lines', () => {
  test('docker events default line: RFC 3339 nano time, type, action, id, sorted attributes', async () => {
    const { eventLine } = await import('../../../src/cli/commands/events.ts');
    const line = eventLine({
      Type: 'image',
      Action: 'tag',
      Actor: { ID: 'sha256:abc', Attributes: { name: 'x:1', a: 'b' } },
      time: 1795339520,
      timeNano: 1795339520123456000,
    });
    assert.match(line, /^2026-11-22T\d\d:\d\d:\d\d\.123456000(Z|[-+]\d\d:\d\d) image tag sha256:abc \(a=b, name=x:1\)\n$/);
  });
  test('time as the docker CLI prints it: nine digits always (RFC3339NanoFixed), in the local zone', async () => {
    const { eventTime } = await import('../../../src/cli/commands/events.ts');
    const utc = process.env.TZ;
    process.env.TZ = 'UTC';
    try {
      assert.equal(eventTime({ time: 1795450_750, timeNano: 1795450750808000000 }), '2026-11-23T16:06:28.808000000Z'.replace('16:06:28', new Date(1795450750808).toISOString().slice(11, 19)));
      assert.equal(eventTime({ time: 1795450750, timeNano: 0 }), `${new Date(1795450750000).toISOString().slice(0, 19)}.000000000Z`);
      process.env.TZ = 'Asia/Kolkata';
      assert.match(eventTime({ time: 1795450750, timeNano: 1795450750000000000 }), /\.000000000\+05:30$/);
    } finally {
      if (utc === undefined) delete process.env.TZ;
      else process.env.TZ = utc;
    }
  });
  test('--format templates see the Go field names (Status, ID, From, Scope, Time, TimeNano); json is the wire form', async () => {
    const { eventMessage } = await import('../../../src/cli/commands/events.ts');
    const { renderEach } = await import('../../../src/cli/format/render.ts');
    const wire = {
      status: 'start',
      id: 'c0ffee',
      from: 'busybox',
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'c0ffee', Attributes: { image: 'busybox', name: 'web' } },
      scope: 'local',
      time: 1795450750,
      timeNano: 1795450750808000000,
    };
    const m = eventMessage(wire);
    assert.equal(renderEach('{{.Status}} {{.ID}} {{.From}} {{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Scope}} {{.Time}}', [m]), 'start c0ffee busybox container start web local 1795450750\n');
    assert.equal(renderEach('json', [m]), JSON.stringify(wire) + '\n');
    assert.equal(renderEach('{{json .}}', [m]), JSON.stringify(wire) + '\n');
  });
});

describe('ps rows (docker formatter semantics)', () => {
  test('Label method, Mounts names or sources cut at 15, Size without a virtual part when SizeRootFs is 0', async () => {
    const { containerRows } = await import('../../../src/cli/commands/ps.ts');
    const { nameMatches } = await import('../../../src/container/service.ts');
    const c = {
      Id: 'a'.repeat(64),
      Names: ['/web'],
      Image: 'busybox',
      ImageID: 'sha256:' + 'b'.repeat(64),
      Command: 'sleep 1000',
      Created: 1_700_000_000,
      State: 'running',
      Status: 'Up 1 second',
      Ports: [],
      Labels: { 'com.example.k': 'v' },
      SizeRw: 0,
      SizeRootFs: 0,
      HostConfig: { NetworkMode: 'none' },
      NetworkSettings: { Networks: {} },
      Mounts: [
        { Type: 'volume', Name: 'c'.repeat(64), Source: '/var/lib/berth/volumes/x/_data', Destination: '/v', Driver: 'local', Mode: '', RW: true, Propagation: '' },
        { Type: 'bind', Source: '/srv', Destination: '/srv', Mode: '', RW: true, Propagation: 'rprivate' },
      ],
    };
    const [row] = containerRows([c as never], { noTrunc: false });
    assert.equal(row!.Label('com.example.k'), 'v');
    assert.equal(row!.Label('nope'), '');
    assert.equal(row!.Mounts, `${'c'.repeat(14)}…,/srv`);
    assert.equal(containerRows([c as never], { noTrunc: true })[0]!.Mounts, `${'c'.repeat(64)},/srv`);
    assert.equal(row!.Size, '0B');
    assert.equal(containerRows([{ ...c, SizeRw: 0, SizeRootFs: 2_048_000 } as never], { noTrunc: false })[0]!.Size, '0B (virtual 2.05MB)');
    // name filters: with or without the leading slash; a bad regular expression matches nothing.
    assert.ok(nameMatches('^/web$', '/web'));
    assert.ok(nameMatches('^web$', '/web'));
    assert.ok(nameMatches('eb', '/web'));
    assert.ok(!nameMatches('^/we$', '/web'));
    assert.ok(!nameMatches('(', '/web'));
  });
});
