/**
 * The pure parts of health checks: Go durations (flags and messages), the
 * create-time merge over an image's HEALTHCHECK, the probe command per test
 * type, create-time validation, the run/create flags as the docker CLI maps
 * them, and the ps Status suffix.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, parseGoDuration } from '../../../src/common/go-duration.ts';
import { checkHealthFilter, mergeHealthcheck, probeCommand, validateHealthcheck } from '../../../src/container/health.ts';
import { mergeConfig } from '../../../src/container/service.ts';
import { parseFlags } from '../../../src/cli/args.ts';
import { RUN_FLAGS } from '../../../src/cli/commands/run.ts';
import { createRequest } from '../../../src/cli/commands/container-options.ts';
import { statusText } from '../../../src/api/container-json.ts';
import { initialState, type ContainerRecord } from '../../../src/container/store.ts';
import { isBerthError } from '../../../src/common/errors.ts';

const MS = 1e6;
const S = 1e9;

describe('Go durations', () => {
  test('time.ParseDuration', () => {
    const cases: Array<[string, number]> = [
      ['0', 0], ['1s', S], ['1.5s', 1.5 * S], ['500ms', 500 * MS], ['1m30s', 90 * S], ['2h', 7200 * S], ['10us', 10e3], ['10µs', 10e3],
      ['1ns', 1], ['.5s', 0.5 * S], ['-1s', -S], ['+2m', 120 * S], ['1h2m3.5s', 3723.5 * S],
    ];
    for (const [text, ns] of cases) assert.equal(parseGoDuration(text), ns, text);
    const fails: Array<[string, string]> = [
      ['5', 'time: missing unit in duration "5"'],
      ['', 'time: invalid duration ""'],
      ['abc', 'time: invalid duration "abc"'],
      ['1x', 'time: unknown unit "x" in duration "1x"'],
      ['.s', 'time: invalid duration ".s"'],
    ];
    for (const [text, message] of fails) assert.throws(() => parseGoDuration(text), (e) => isBerthError(e, 'BERTH_DURATION_INVALID') && e.message === message, text);
  });

  test('Duration.String()', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'], [S, '1s'], [30 * S, '30s'], [1.5 * S, '1.5s'], [300 * MS, '300ms'], [1.25 * MS, '1.25ms'], [1500, '1.5µs'], [7, '7ns'],
      [60 * S, '1m0s'], [90 * S, '1m30s'], [3600 * S, '1h0m0s'], [3723.5 * S, '1h2m3.5s'], [-2 * S, '-2s'],
    ];
    for (const [ns, text] of cases) assert.equal(formatGoDuration(ns), text, text);
  });
});

describe('health config', () => {
  test('probe command: CMD exec\'d as is, CMD-SHELL through Config.Shell or /bin/sh -c; NONE, empty or unknown: none', () => {
    assert.deepEqual(probeCommand({ Test: ['CMD', 'curl', '-f', 'x'] }, undefined), ['curl', '-f', 'x']);
    assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'test -f /ok'] }, undefined), ['/bin/sh', '-c', 'test -f /ok']);
    assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'x'] }, ['/bin/ash', '-ec']), ['/bin/ash', '-ec', 'x']);
    assert.equal(probeCommand({ Test: ['NONE'] }, undefined), undefined);
    assert.equal(probeCommand({ Test: [] }, undefined), undefined);
    assert.equal(probeCommand({ Interval: S }, undefined), undefined);
    assert.equal(probeCommand({ Test: ['HTTP', '/'] }, undefined), undefined);
    assert.equal(probeCommand(null, undefined), undefined);
  });

  test('create-time merge: the image\'s check when the user has none; else field by field where the user left zero', () => {
    const image = { Test: ['CMD', 'img'], Interval: 10 * S, Timeout: 3 * S, StartPeriod: 5 * S, StartInterval: S, Retries: 7 };
    assert.deepEqual(mergeHealthcheck(undefined, image), image);
    assert.deepEqual(mergeHealthcheck(null, image), image);
    assert.deepEqual(mergeHealthcheck({ Interval: 2 * S }, image), { ...image, Interval: 2 * S });
    assert.deepEqual(mergeHealthcheck({ Test: ['CMD-SHELL', 'mine'], Retries: 1 }, image), { ...image, Test: ['CMD-SHELL', 'mine'], Retries: 1 });
    assert.deepEqual(mergeHealthcheck({ Test: ['NONE'] }, image), { ...image, Test: ['NONE'] });
    assert.deepEqual(mergeHealthcheck({ Test: ['CMD', 'x'] }, { Interval: S }), { Test: ['CMD', 'x'], Interval: S });
    assert.deepEqual(mergeHealthcheck({ Test: ['CMD', 'x'] }, undefined), { Test: ['CMD', 'x'] });
    assert.equal(mergeHealthcheck(undefined, undefined), undefined);
    // Through mergeConfig, as create uses it.
    assert.deepEqual(mergeConfig({ Image: 'x', Healthcheck: { Timeout: S } }, { Healthcheck: image }, 'a'.repeat(64)).Healthcheck, { ...image, Timeout: S });
    assert.equal('Healthcheck' in mergeConfig({ Image: 'x' }, {}, 'a'.repeat(64)), false);
  });

  test('validation: durations of at least 1ms (or 0), retries not negative; the health filter knows four values', () => {
    validateHealthcheck(undefined);
    validateHealthcheck({ Test: ['CMD', 'x'], Interval: MS, Timeout: 0, Retries: 0 });
    assert.throws(() => validateHealthcheck({ Interval: MS - 1 }), /^BerthError: Interval in Healthcheck cannot be less than 1ms$/);
    assert.throws(() => validateHealthcheck({ StartInterval: -S }), /StartInterval in Healthcheck cannot be less than 1ms/);
    assert.throws(() => validateHealthcheck({ Retries: -2 }), /Retries in Healthcheck cannot be negative/);
    checkHealthFilter(['starting', 'healthy', 'unhealthy', 'none']);
    assert.throws(() => checkHealthFilter(['ok']), (e) => isBerthError(e) && e.status === 400 && e.message === 'Unrecognised filter value for health: ok');
  });
});

describe('run/create health flags', () => {
  const parse = (argv: string[]) => {
    const p = parseFlags(argv, RUN_FLAGS, 'berth run', false);
    return createRequest(p.flags, p.args, {}, { detach: true }).body.Healthcheck;
  };

  test('the docker CLI\'s mapping: CMD-SHELL, Go durations in nanoseconds, zero fields omitted', () => {
    assert.equal(parse(['busybox']), undefined);
    assert.deepEqual(parse(['--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s', 'busybox']), { Test: ['CMD-SHELL', 'test -f /tmp/ok'], Interval: S });
    assert.deepEqual(
      parse(['--health-cmd=true', '--health-timeout=2s', '--health-retries=5', '--health-start-period=1m', '--health-start-interval', '500ms', '--health-interval=4.5s', 'busybox']),
      { Test: ['CMD-SHELL', 'true'], Interval: 4.5 * S, Timeout: 2 * S, StartPeriod: 60 * S, StartInterval: 500 * MS, Retries: 5 },
    );
    assert.deepEqual(parse(['--health-retries', '2', 'busybox']), { Retries: 2 }, 'without --health-cmd the image\'s test applies');
    assert.deepEqual(parse(['--no-healthcheck', 'busybox']), { Test: ['NONE'] });
  });

  test('usage errors with the docker CLI\'s wording', () => {
    const usage = (argv: string[], message: string) => assert.throws(() => parse(argv), (e) => isBerthError(e, 'BERTH_CLI_USAGE') && e.message === message);
    usage(['--no-healthcheck', '--health-cmd', 'x', 'busybox'], '--no-healthcheck conflicts with --health-* options');
    usage(['--health-interval', '5', 'busybox'], 'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"');
    usage(['--health-timeout', '-1s', 'busybox'], '--health-timeout cannot be negative');
    usage(['--health-retries', 'x', 'busybox'], 'invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax');
    usage(['--health-retries', '-1', 'busybox'], '--health-retries cannot be negative');
  });
});

test('ps Status: "(health: starting)", "(healthy)", "(unhealthy)" after Up; Paused wins; nothing without a check', () => {
  const now = Date.parse('2024-01-01T00:01:00Z');
  const rec = (health?: 'starting' | 'healthy' | 'unhealthy', paused = false) =>
    ({
      State: {
        ...initialState(),
        Status: paused ? 'paused' : 'running',
        Running: true,
        Paused: paused,
        StartedAt: '2024-01-01T00:00:57Z',
        ...(health ? { Health: { Status: health, FailingStreak: 0, Log: [] } } : {}),
      },
    }) as unknown as ContainerRecord;
  assert.equal(statusText(rec('starting'), now), 'Up 3 seconds (health: starting)');
  assert.equal(statusText(rec('healthy'), now), 'Up 3 seconds (healthy)');
  assert.equal(statusText(rec('unhealthy'), now), 'Up 3 seconds (unhealthy)');
  assert.equal(statusText(rec('healthy', true), now), 'Up 3 seconds (Paused)');
  assert.equal(statusText(rec(), now), 'Up 3 seconds');
});
