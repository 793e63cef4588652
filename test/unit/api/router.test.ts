import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Router, compilePattern } from '../../../src/api/router.ts';
import { splitVersion, effectiveVersion, negotiateVersion, compareVersions } from '../../../src/api/version.ts';
import { API_VERSION, MIN_API_VERSION } from '../../../src/common/config.ts';
import { isBerthError } from '../../../src/common/errors.ts';

const noop = () => {};

describe('router', () => {
  const router = new Router();
  const h = (name: string) => Object.assign(() => {}, { routeName: name });
  const list = h('list');
  const inspect = h('inspect');
  const del = h('delete');
  const getMany = h('get-many');
  const getOne = h('get-one');
  router.get('/images/json', list);
  router.get('/images/get', getMany);
  router.get('/images/{name:.*}/get', getOne);
  router.get('/images/{name:.*}/json', inspect);
  router.delete('/images/{name:.*}', del);
  router.post('/containers/{id}/start', noop);

  test('fixed paths win over patterns registered after them', () => {
    const m = router.match('GET', '/images/json');
    assert.ok(m && 'handler' in m);
    assert.equal(m.handler, list);
    const g = router.match('GET', '/images/get');
    assert.ok(g && 'handler' in g);
    assert.equal(g.handler, getMany);
  });

  test('{name:.*} captures image names with registry host, port and slashes', () => {
    const m = router.match('GET', '/images/127.0.0.1:5000/a/b:tag/json');
    assert.ok(m && 'handler' in m);
    assert.equal(m.handler, inspect);
    assert.deepEqual(m.params, { name: '127.0.0.1:5000/a/b:tag' });
    const d = router.match('DELETE', '/images/sha256:abc');
    assert.ok(d && 'handler' in d);
    assert.deepEqual(d.params, { name: 'sha256:abc' });
  });

  test('percent-encoded parameters are decoded', () => {
    const m = router.match('GET', '/images/localhost%3A5000%2Fbusybox/json');
    assert.ok(m && 'handler' in m);
    assert.equal(m.params.name, 'localhost:5000/busybox');
  });

  test('{id} is one segment only', () => {
    assert.equal(router.match('POST', '/containers/a/b/start'), undefined);
    const m = router.match('POST', '/containers/abc/start');
    assert.ok(m && 'handler' in m);
    assert.deepEqual(m.params, { id: 'abc' });
  });

  test('unknown path → undefined; known path with another method → methodNotAllowed', () => {
    assert.equal(router.match('GET', '/nope'), undefined);
    assert.deepEqual(router.match('PUT', '/images/json'), { methodNotAllowed: true });
  });

  test('an empty {name:.*} does not match', () => {
    assert.equal(router.match('DELETE', '/images/'), undefined);
  });

  test('regex metacharacters in fixed parts are literal', () => {
    const { regex } = compilePattern('/a.b');
    assert.ok(regex.test('/a.b'));
    assert.ok(!regex.test('/aXb'));
  });
});

describe('API versions', () => {
  test('splitVersion strips /vX.Y and keeps unversioned paths', () => {
    assert.deepEqual(splitVersion('/v1.41/images/json'), { version: '1.41', path: '/images/json' });
    assert.deepEqual(splitVersion('/_ping'), { version: undefined, path: '/_ping' });
    assert.deepEqual(splitVersion('/v1/images'), { version: undefined, path: '/v1/images' });
  });

  test('compareVersions is numeric, not lexical', () => {
    assert.equal(compareVersions('1.9', '1.10'), -1);
    assert.equal(compareVersions('1.41', '1.41'), 0);
    assert.equal(compareVersions('1.45', '1.24'), 1);
  });

  test('requests at any version within range are served at that version', () => {
    assert.equal(effectiveVersion('1.41'), '1.41');
    assert.equal(effectiveVersion(MIN_API_VERSION), MIN_API_VERSION);
    assert.equal(effectiveVersion(API_VERSION), API_VERSION);
    assert.equal(effectiveVersion(undefined), API_VERSION);
  });

  test('too old and too new are 400 with Docker wording', () => {
    assert.throws(
      () => effectiveVersion('1.12'),
      (err: unknown) =>
        isBerthError(err, 'BERTH_API_VERSION_TOO_OLD') &&
        err.status === 400 &&
        err.message === `client version 1.12 is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
    assert.throws(
      () => effectiveVersion('1.99'),
      (err: unknown) => isBerthError(err, 'BERTH_API_VERSION_TOO_NEW') && err.status === 400 && /Maximum supported API version is/.test(err.message),
    );
  });

  test('client negotiation picks the lower version', () => {
    assert.equal(negotiateVersion('1.50', '1.45'), '1.45');
    assert.equal(negotiateVersion('1.45', '1.50'), '1.45');
    assert.equal(negotiateVersion('1.45', undefined), '1.45');
  });
});
