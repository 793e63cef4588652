import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges } from '../../../src/image/archive/changes.ts';
import { cleanName } from '../../../src/image/archive/staging.ts';

describe('--change instructions', () => {
  test('CMD and ENTRYPOINT: exec form, shell form, and empty resets', () => {
    assert.deepEqual(applyChanges({}, ['CMD ["a", "b c"]']).Cmd, ['a', 'b c']);
    assert.deepEqual(applyChanges({}, ['cmd echo "$HOME"']).Cmd, ['/bin/sh', '-c', 'echo "$HOME"']);
    assert.deepEqual(applyChanges({}, ['ENTRYPOINT [not json']).Entrypoint, ['/bin/sh', '-c', '[not json']);
    assert.equal(applyChanges({ Cmd: ['x'] }, ['CMD']).Cmd, null);
  });

  test('ENV: pairs with quotes, legacy form, and replacing a variable keeps one entry', () => {
    assert.deepEqual(applyChanges({}, ['ENV A=1 B="x y" C=\'q\'']).Env, ['A=1', 'B=x y', 'C=q']);
    assert.deepEqual(applyChanges({}, ['ENV PATH /usr/bin:/bin']).Env, ['PATH=/usr/bin:/bin']);
    assert.deepEqual(applyChanges({ Env: ['A=1', 'B=2'] }, ['ENV A=3']).Env, ['B=2', 'A=3']);
  });

  test('LABEL, EXPOSE ranges, VOLUME json and words, WORKDIR relative, USER, STOPSIGNAL, ONBUILD', () => {
    const c = applyChanges({}, [
      'LABEL a=b "c d"=e',
      'EXPOSE 8000-8002/udp 80',
      'VOLUME ["/a", "/b"]',
      'VOLUME /c /d',
      'WORKDIR /srv',
      'WORKDIR app',
      'USER 1000:1000',
      'STOPSIGNAL 9',
      'ONBUILD RUN true',
    ]);
    assert.deepEqual(c.Labels, { a: 'b', 'c d': 'e' });
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['8000/udp', '8001/udp', '8002/udp', '80/tcp']);
    assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/a', '/b', '/c', '/d']);
    assert.equal(c.WorkingDir, '/srv/app');
    assert.equal(c.User, '1000:1000');
    assert.equal(c.StopSignal, '9');
    assert.deepEqual(c.OnBuild, ['RUN true']);
  });

  test('the input config is not modified', () => {
    const base = { Env: ['A=1'] };
    applyChanges(base, ['ENV A=2']);
    assert.deepEqual(base, { Env: ['A=1'] });
  });

  test('bad instructions are refused with what was wrong', () => {
    const cases: [string, RegExp][] = [
      ['RUN make', /RUN is not supported/],
      ['FROM scratch', /FROM is not supported/],
      ['ENV', /ENV needs an argument/],
      ['ENV =x', /"=x" is not key=value/],
      ['LABEL justakey', /key=value/],
      ['EXPOSE http', /"http" is not a port/],
      ['EXPOSE 0', /out of 1-65535/],
      ['EXPOSE 90-80', /out of 1-65535/],
      ['VOLUME ["/a", 1]', /JSON array of strings/],
      ['ENV A="unterminated', /unterminated " quote/],
      ['STOPSIGNAL kill me', /not a signal/],
      ['   ', /empty instruction/],
    ];
    for (const [change, message] of cases) {
      assert.throws(() => applyChanges({}, [change]), (err: any) => {
        assert.equal(err.code, 'BERTH_IMPORT_INVALID_CHANGE', change);
        assert.match(err.message, message, change);
        assert.equal(err.status, 400);
        return true;
      });
    }
  });
});

describe('archive member names', () => {
  test('normalised', () => {
    assert.equal(cleanName('./manifest.json'), 'manifest.json');
    assert.equal(cleanName('blobs//sha256/./abc'), 'blobs/sha256/abc');
    assert.equal(cleanName('abc/../blobs/x'), 'blobs/x');
    assert.equal(cleanName('dir/'), 'dir');
  });
  test('escapes refused', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', '..', 'a\0b']) {
      assert.throws(() => cleanName(bad), { code: 'BERTH_ARCHIVE_PATH_ESCAPE' }, bad);
    }
  });
});
