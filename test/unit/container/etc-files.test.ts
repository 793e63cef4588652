import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildHosts, buildResolvConf } from '../../../src/container/etc-files.ts';

describe('/etc files', () => {
  test('hosts: localhost entries, extra hosts, own name', () => {
    const hosts = buildHosts({ hostname: 'web', hostConfig: { ExtraHosts: ['db:10.0.0.5', 'v6:[::1]'] } });
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, /^10\.0\.0\.5\tdb$/m);
    assert.match(hosts, /^::1\tv6$/m);
    assert.match(hosts, /^127\.0\.0\.1\tweb$/m);
  });
  test('hosts: a bad extra host is refused naming it', () => {
    assert.throws(() => buildHosts({ hostname: 'x', hostConfig: { ExtraHosts: ['nocolon'] } }), /nocolon/);
  });
  test('resolv.conf drops loopback resolvers and falls back', () => {
    const out = buildResolvConf('nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n', {});
    assert.equal(out, 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0\n');
  });
  test('resolv.conf: --dns, --dns-search, --dns-option override', () => {
    const out = buildResolvConf('nameserver 10.1.1.1\n', { Dns: ['1.1.1.1'], DnsSearch: ['a.test'], DnsOptions: ['ndots:2'] });
    assert.equal(out, 'nameserver 1.1.1.1\nsearch a.test\noptions ndots:2\n');
    assert.throws(() => buildResolvConf('', { Dns: ['not-an-ip'] }), /not an IP/);
  });
});
