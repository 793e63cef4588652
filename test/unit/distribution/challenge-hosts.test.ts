import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from '../../../src/distribution/challenge.ts';
import { apiHostFor, authKeyFor, isInsecureAllowed, isLoopbackHost, splitHostPort } from '../../../src/distribution/hosts.ts';
import { normaliseRegistryName } from '../../../src/distribution/login.ts';
import { repositoryScope } from '../../../src/distribution/auth.ts';

describe('WWW-Authenticate parsing', () => {
  test('Docker Hub style Bearer challenge with a comma inside the quoted scope', () => {
    const got = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"');
    assert.deepEqual(got, [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } },
    ]);
  });

  test('several challenges in one header, spaces after commas, unquoted values, mixed case', () => {
    const got = parseWwwAuthenticate('Basic realm="Registry Realm", BEARER Realm=https://t/x, Service=svc, error="insufficient_scope"');
    assert.deepEqual(got, [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', service: 'svc', error: 'insufficient_scope' } },
    ]);
  });

  test('escaped quotes inside quoted strings; several header lines', () => {
    const got = parseWwwAuthenticate(['Basic realm="a \\"quoted\\" realm"', 'Bearer realm="r"']);
    assert.equal(got[0]!.params.realm, 'a "quoted" realm');
    assert.equal(got[1]!.scheme, 'bearer');
  });

  test('garbage does not hang or throw', () => {
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('=,,"'), []);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="unterminated'), [{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
  });
});

describe('registry hosts', () => {
  test('docker.io and its aliases are served from registry-1.docker.io, credentials under the legacy key', () => {
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      assert.equal(apiHostFor(name), 'registry-1.docker.io');
      assert.equal(authKeyFor(name), 'https://index.docker.io/v1/');
    }
    assert.equal(apiHostFor('ghcr.io'), 'ghcr.io');
    assert.equal(authKeyFor('127.0.0.1:5000'), '127.0.0.1:5000');
  });

  test('loopback hosts only: 127.0.0.0/8, ::1, localhost', () => {
    for (const h of ['127.0.0.1:5000', '127.3.4.5', 'localhost', 'localhost:5000', '[::1]:5000', '::1', 'registry.localhost:80']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['128.0.0.1', '10.0.0.1:5000', 'example.com', 'localhost.example.com', '[::2]:5000', '127.example.com']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });

  test('plain HTTP is allowed only for loopback or listed-insecure registries (host, host:port, CIDR)', () => {
    assert.equal(isInsecureAllowed('127.0.0.1:5000'), true);
    assert.equal(isInsecureAllowed('docker.io'), false);
    assert.equal(isInsecureAllowed('myreg.lan:5000'), false);
    assert.equal(isInsecureAllowed('myreg.lan:5000', ['myreg.lan:5000']), true);
    assert.equal(isInsecureAllowed('myreg.lan:5000', ['http://myreg.lan:5000/']), true);
    assert.equal(isInsecureAllowed('myreg.lan:5000', ['myreg.lan']), true);
    assert.equal(isInsecureAllowed('myreg.lan:5000', ['other.lan:5000']), false);
    assert.equal(isInsecureAllowed('10.1.2.3:5000', ['10.0.0.0/8']), true);
    assert.equal(isInsecureAllowed('11.1.2.3:5000', ['10.0.0.0/8']), false);
    assert.equal(isInsecureAllowed('10.1.2.3:5000', ['10.0.0.0/99']), false);
  });

  test('host:port splitting handles IPv6 brackets', () => {
    assert.deepEqual(splitHostPort('[::1]:5000'), { hostname: '::1', port: '5000' });
    assert.deepEqual(splitHostPort('a.b:80'), { hostname: 'a.b', port: '80' });
    assert.deepEqual(splitHostPort('fe80::1'), { hostname: 'fe80::1' });
  });

  test('login addresses are normalised the way docker does', () => {
    assert.equal(normaliseRegistryName(undefined), 'docker.io');
    assert.equal(normaliseRegistryName('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normaliseRegistryName('http://LocalHost:5000/'), 'localhost:5000');
    assert.equal(normaliseRegistryName('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.throws(() => normaliseRegistryName('user@host'), { code: 'BERTH_DISTRIBUTION_INVALID_REGISTRY' });
  });

  test('scopes are spelled as the token spec says', () => {
    assert.equal(repositoryScope('library/busybox', ['pull']), 'repository:library/busybox:pull');
    assert.equal(repositoryScope('a/b', ['pull', 'push']), 'repository:a/b:pull,push');
  });
});
