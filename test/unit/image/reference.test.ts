import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseReference,
  parseDockerRef,
  parseRepositoryName,
  familiarName,
  familiarString,
  referenceString,
  referenceName,
  validateTag,
  splitDockerDomain,
} from '../../../src/image/reference.ts';

const F64 = 'f'.repeat(64);
const D = `sha256:${F64}`;

describe('reference grammar: what parses, and into which parts', () => {
  // [input, domain, path, tag, digest] after normalisation
  const cases: Array<[string, string, string, string?, string?]> = [
    ['busybox', 'docker.io', 'library/busybox'],
    ['busybox:latest', 'docker.io', 'library/busybox', 'latest'],
    ['library/busybox', 'docker.io', 'library/busybox'],
    ['docker.io/busybox', 'docker.io', 'library/busybox'],
    ['index.docker.io/busybox', 'docker.io', 'library/busybox'],
    ['index.docker.io/foo/bar:1', 'docker.io', 'foo/bar', '1'],
    ['foo/bar', 'docker.io', 'foo/bar'],
    ['foo/bar/baz', 'docker.io', 'foo/bar/baz'],
    ['test_com', 'docker.io', 'library/test_com'],
    ['test.com:tag', 'docker.io', 'library/test.com', 'tag'],
    ['test.com:5000', 'docker.io', 'library/test.com', '5000'],
    ['test.com/repo:tag', 'test.com', 'repo', 'tag'],
    ['test:5000/repo', 'test:5000', 'repo'],
    ['test:5000/repo:tag', 'test:5000', 'repo', 'tag'],
    [`test:5000/repo@${D}`, 'test:5000', 'repo', undefined, D],
    [`test:5000/repo:tag@${D}`, 'test:5000', 'repo', 'tag', D],
    ['localhost/foo', 'localhost', 'foo'],
    ['localhost:5000', 'docker.io', 'library/localhost', '5000'],
    ['localhost', 'docker.io', 'library/localhost'],
    ['localhost:5000/a/b:v1', 'localhost:5000', 'a/b', 'v1'],
    ['127.0.0.1:5000/a/b:tag', '127.0.0.1:5000', 'a/b', 'tag'],
    ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase'],
    // An uppercase first component is taken as a registry host, as Docker does.
    ['Uppercase/lowercase:tag', 'Uppercase', 'lowercase', 'tag'],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag'],
    ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com'],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com'],
    ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080'],
    ['foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080'],
    ['192.168.1.1', 'docker.io', 'library/192.168.1.1'],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050'],
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
    ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000', 'repo', 'tag'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo'],
    ['a__b/c--d/e.f/g_h', 'docker.io', 'a__b/c--d/e.f/g_h'],
    ['a---b', 'docker.io', 'library/a---b'],
    ['foo:' + 'a'.repeat(128), 'docker.io', 'library/foo', 'a'.repeat(128)],
    ['foo:_under', 'docker.io', 'library/foo', '_under'],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D],
  ];
  for (const [input, domain, path, tag, digest] of cases) {
    test(input.length > 80 ? input.slice(0, 80) + '…' : input, () => {
      const ref = parseReference(input);
      assert.equal(ref.domain, domain);
      assert.equal(ref.path, path);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
    });
  }

  test('name of exactly 255 characters parses; 256 is refused', () => {
    const ok = 'a/'.repeat(127) + 'a'; // 255 chars
    assert.equal(parseReference(ok + ':tag-puts-this-over-max').tag, 'tag-puts-this-over-max');
    assert.throws(() => parseReference('a/'.repeat(128) + 'a:tag'), { code: 'BERTH_REFERENCE_NAME_TOO_LONG' });
  });
});

describe('reference grammar: what is refused, with a code naming the bad part', () => {
  const bad: Array<[string, string, RegExp?]> = [
    ['', 'BERTH_REFERENCE_EMPTY'],
    [':justtag', 'BERTH_REFERENCE_INVALID_FORMAT', /missing before ":"/],
    [`@${D}`, 'BERTH_REFERENCE_INVALID_FORMAT', /missing before "@"/],
    ['repo@sha256:ffffffffffffffffffffffffffffffffff', 'BERTH_REFERENCE_INVALID_DIGEST', /34 hex characters/],
    [`validname@invaliddigest:${F64}`, 'BERTH_REFERENCE_INVALID_DIGEST', /unsupported digest algorithm "invaliddigest"/],
    [`xn--7o8h.com/myimage:t@sha512:${'f'.repeat(128)}`, 'BERTH_REFERENCE_INVALID_DIGEST', /berth only supports sha256/],
    ['repo@notadigest', 'BERTH_REFERENCE_INVALID_DIGEST'],
    ['Uppercase:tag', 'BERTH_REFERENCE_UPPERCASE', /"Uppercase" must be lowercase/],
    ['test:5000/Uppercase/lowercase:tag', 'BERTH_REFERENCE_UPPERCASE'],
    ['BusyBox', 'BERTH_REFERENCE_UPPERCASE'],
    ['aa/asdf$$^/aa', 'BERTH_REFERENCE_INVALID_NAME', /"asdf\$\$\^"/],
    ['foo:' + 'a'.repeat(129), 'BERTH_REFERENCE_INVALID_TAG', /129 characters, more than 128/],
    ['foo:-dash', 'BERTH_REFERENCE_INVALID_TAG', /must start with/],
    ['foo:.dot', 'BERTH_REFERENCE_INVALID_TAG'],
    ['foo:ta$g', 'BERTH_REFERENCE_INVALID_TAG'],
    ['foo:', 'BERTH_REFERENCE_INVALID_TAG', /tag is empty/],
    ['/foo', 'BERTH_REFERENCE_INVALID_NAME', /empty path component/],
    ['foo/', 'BERTH_REFERENCE_INVALID_NAME', /empty path component/],
    ['foo//bar', 'BERTH_REFERENCE_INVALID_NAME'],
    ['-foo', 'BERTH_REFERENCE_INVALID_NAME'],
    ['foo-', 'BERTH_REFERENCE_INVALID_NAME'],
    ['foo..bar', 'BERTH_REFERENCE_INVALID_NAME'],
    ['foo___bar', 'BERTH_REFERENCE_INVALID_NAME'],
    ['foo bar', 'BERTH_REFERENCE_INVALID_NAME'],
    ['[2001:db8::1]', 'BERTH_REFERENCE_INVALID_NAME'],
    ['[2001:db8::1]:5000', 'BERTH_REFERENCE_INVALID_NAME', /followed by "\/repository"/],
    ['[fe80::1%eth0]:5000/repo', 'BERTH_REFERENCE_INVALID_DOMAIN', /registry "\[fe80::1%eth0\]:5000"/],
    ['-bad.com/repo', 'BERTH_REFERENCE_INVALID_DOMAIN'],
    ['host:port/repo', 'BERTH_REFERENCE_INVALID_DOMAIN'],
    [F64, 'BERTH_REFERENCE_HEX_ID', /64-character hexadecimal/],
  ];
  for (const [input, code, message] of bad) {
    test(JSON.stringify(input.length > 60 ? input.slice(0, 60) + '…' : input), () => {
      assert.throws(
        () => parseReference(input),
        (err: { code: string; status: number; message: string }) => {
          assert.equal(err.code, code, err.message);
          assert.equal(err.status, 400);
          assert.match(err.message, /^invalid reference format/);
          if (message) assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('normalisation and familiar forms', () => {
  test('busybox → docker.io/library/busybox:latest and back', () => {
    const ref = parseDockerRef('busybox');
    assert.equal(referenceString(ref), 'docker.io/library/busybox:latest');
    assert.equal(familiarString(ref), 'busybox:latest');
    assert.equal(familiarName(ref), 'busybox');
  });

  test('a digest reference gets no default tag', () => {
    const ref = parseDockerRef(`busybox@${D}`);
    assert.equal(ref.tag, undefined);
    assert.equal(referenceString(ref), `docker.io/library/busybox@${D}`);
  });

  test('familiar forms keep non-default registries and user namespaces', () => {
    assert.equal(familiarString(parseDockerRef('foo/bar')), 'foo/bar:latest');
    assert.equal(familiarString(parseDockerRef('docker.io/library/a/b')), 'library/a/b:latest');
    assert.equal(familiarString(parseDockerRef('localhost:5000/x')), 'localhost:5000/x:latest');
    assert.equal(familiarString(parseDockerRef(`localhost:5000/x:v@${D}`)), `localhost:5000/x:v@${D}`);
    assert.equal(referenceName(parseReference('index.docker.io/library/x')), 'docker.io/library/x');
  });

  test('normalised strings parse back to the same reference', () => {
    for (const s of ['busybox', 'a/b:c', `localhost:5000/x:y@${D}`, '[::1]:5000/repo:tag']) {
      const ref = parseDockerRef(s);
      assert.deepEqual(parseReference(referenceString(ref)), ref);
      assert.deepEqual(parseDockerRef(familiarString(ref)), ref);
    }
  });

  test('repository names refuse tags and digests', () => {
    assert.equal(parseRepositoryName('foo').path, 'library/foo');
    assert.throws(() => parseRepositoryName('foo:bar'), { code: 'BERTH_REFERENCE_INVALID_NAME' });
  });

  test('tags on their own', () => {
    assert.equal(validateTag('v1.0_rc-2'), 'v1.0_rc-2');
    assert.throws(() => validateTag('a'.repeat(129)), { code: 'BERTH_REFERENCE_INVALID_TAG' });
    assert.throws(() => validateTag('no/slash'), { code: 'BERTH_REFERENCE_INVALID_TAG' });
  });

  test('domain detection: ".", ":", "localhost" or uppercase make a registry', () => {
    assert.deepEqual(splitDockerDomain('localhost/x'), { domain: 'localhost', path: 'x' });
    assert.deepEqual(splitDockerDomain('local/x'), { domain: 'docker.io', path: 'local/x' });
    assert.deepEqual(splitDockerDomain('a.b/x'), { domain: 'a.b', path: 'x' });
    assert.deepEqual(splitDockerDomain('a:1/x'), { domain: 'a:1', path: 'x' });
    assert.deepEqual(splitDockerDomain('X/y'), { domain: 'X', path: 'y' });
  });
});
