import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { dockerAbsPath, encodePathStatHeader, goFileMode, goTime } from '../../../src/container/archive.ts';

describe('docker cp path conventions', () => {
  test('paths are read as Docker reads them: absolute, cleaned, trailing "/" and "/." kept', () => {
    assert.equal(dockerAbsPath('data'), '/data');
    assert.equal(dockerAbsPath('/data/'), '/data/');
    assert.equal(dockerAbsPath('/data/.'), '/data/.');
    assert.equal(dockerAbsPath('/data/./'), '/data/./');
    assert.equal(dockerAbsPath('/'), '/');
    assert.equal(dockerAbsPath('.'), '/.');
    assert.equal(dockerAbsPath('/a/../data'), '/data');
    assert.equal(dockerAbsPath('/a/../../..'), '/');
  });

  test('st_mode as a Go os.FileMode: type bits high, setuid/setgid/sticky as flags, permissions 0777', () => {
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
    assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
    assert.equal(goFileMode(0o102755), 2 ** 22 + 0o755);
    assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777);
    assert.equal(goFileMode(0o020666), 2 ** 26 + 2 ** 21 + 0o666);
    assert.equal(goFileMode(0o060660), 2 ** 26 + 0o660);
    assert.equal(goFileMode(0o010644), 2 ** 25 + 0o644);
    assert.equal(goFileMode(0o140755), 2 ** 24 + 0o755);
  });

  test('times as Go marshals them: RFC 3339 in UTC, nanoseconds without trailing zeros', () => {
    assert.equal(goTime(1704164645n, 0n), '2024-01-02T03:04:05Z');
    assert.equal(goTime(1704164645n, 500000000n), '2024-01-02T03:04:05.5Z');
    assert.equal(goTime(1704164645n, 123456789n), '2024-01-02T03:04:05.123456789Z');
    assert.equal(goTime(1704164645n, 1000n), '2024-01-02T03:04:05.000001Z');
  });

  test('the X-Docker-Container-Path-Stat header is base64 JSON in Docker\'s field order', () => {
    const v = encodePathStatHeader({ linkTarget: '/bin/busybox', mtime: 't', mode: 134218239, size: 7, name: 'sh' });
    assert.equal(Buffer.from(v, 'base64').toString(), '{"name":"sh","size":7,"mode":134218239,"mtime":"t","linkTarget":"/bin/busybox"}');
  });
});
