import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlatform, formatPlatform, hostPlatform, selectManifest, normalizePlatform, assertConfigPlatform, platformMatches } from '../../../src/image/platform.ts';
import type { Descriptor, ImageConfig, Platform } from '../../../src/oci/image-spec.ts';

const entry = (c: string, platform?: Platform): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${c.repeat(64)}`,
  size: 1,
  ...(platform ? { platform } : {}),
});

describe('platform specifiers', () => {
  test('the host platform here is linux/amd64', () => {
    assert.deepEqual(hostPlatform(), { os: 'linux', architecture: 'amd64' });
  });

  test('os/arch[/variant] with aliases normalised', () => {
    const cases: Array<[string, string]> = [
      ['linux/amd64', 'linux/amd64'],
      ['linux/x86_64', 'linux/amd64'],
      ['Linux/AMD64', 'linux/amd64'],
      ['linux/aarch64', 'linux/arm64'],
      ['linux/arm64/v8', 'linux/arm64'],
      ['linux/arm', 'linux/arm/v7'],
      ['linux/armhf', 'linux/arm/v7'],
      ['linux/armel', 'linux/arm/v6'],
      ['linux/arm/6', 'linux/arm/v6'],
      ['linux/i386', 'linux/386'],
      ['linux/amd64/v1', 'linux/amd64'],
      ['linux/amd64/v3', 'linux/amd64/v3'],
      ['linux/ppc64le', 'linux/ppc64le'],
      ['linux/s390x', 'linux/s390x'],
      ['windows/amd64', 'windows/amd64'],
      ['linux', 'linux/amd64'],
      ['arm64', 'linux/arm64'],
    ];
    for (const [input, want] of cases) assert.equal(formatPlatform(parsePlatform(input)), want, input);
  });

  test('bad specifiers are refused with what was wrong', () => {
    for (const [input, why] of [
      ['', /empty/],
      ['linux/', /only letters/],
      ['linux/amd64/v2/x', /too many parts/],
      ['plan10/amd64', /unknown operating system "plan10"/],
      ['linux/z80', /unknown architecture "z80"/],
      ['banana', /neither a known operating system nor a known architecture/],
      ['linux/amd 64', /only letters/],
    ] as const) {
      assert.throws(() => parsePlatform(input), (err: { code: string; message: string }) => {
        assert.equal(err.code, 'BERTH_PLATFORM_INVALID');
        assert.match(err.message, why);
        return true;
      });
    }
  });
});

describe('selecting from an index', () => {
  const index = [
    entry('1', { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry('2', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry('3', { os: 'linux', architecture: 'amd64' }),
    entry('4', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry('5', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }),
    entry('6', { os: 'unknown', architecture: 'unknown' }),
  ];

  test('the host platform picks linux/amd64', () => {
    assert.equal(selectManifest(index, hostPlatform()).digest, entry('3').digest);
  });

  test('variants: exact first, then older compatible ones', () => {
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v7')).digest, entry('4').digest);
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v6')).digest, entry('1').digest);
    assert.equal(selectManifest(index.filter((e) => e !== index[3]), parsePlatform('linux/arm/v7')).digest, entry('1').digest, 'v7 runs v6');
    assert.equal(selectManifest(index, parsePlatform('linux/arm64')).digest, entry('2').digest, 'arm64/v8 in the index normalises to arm64');
    assert.equal(selectManifest(index, parsePlatform('windows/amd64')).digest, entry('5').digest);
    assert.equal(selectManifest([entry('7', { os: 'linux', architecture: '386' })], parsePlatform('linux/amd64')).digest, entry('7').digest, 'amd64 runs 386 as a fallback');
    assert.equal(selectManifest([entry('7', { os: 'linux', architecture: 'amd64' }), entry('8', { os: 'linux', architecture: 'amd64', variant: 'v3' })], parsePlatform('linux/amd64/v3')).digest, entry('8').digest);
  });

  test('v6 cannot run v7; no match lists what is available', () => {
    const armOnly = [entry('4', { os: 'linux', architecture: 'arm', variant: 'v7' }), entry('6', { os: 'unknown', architecture: 'unknown' })];
    assert.throws(() => selectManifest(armOnly, parsePlatform('linux/arm/v6'), 'busybox:latest'), (err: { code: string; status: number; message: string }) => {
      assert.equal(err.code, 'BERTH_PLATFORM_NO_MATCH');
      assert.equal(err.status, 404);
      assert.match(err.message, /no matching manifest for linux\/arm\/v6 in the manifest list entries of busybox:latest \(available: linux\/arm\/v7\)/);
      return true;
    });
  });

  test('an entry without platform is the last resort', () => {
    assert.equal(selectManifest([entry('9'), entry('3', { os: 'linux', architecture: 'amd64' })], hostPlatform()).digest, entry('3').digest);
    assert.equal(selectManifest([entry('9')], hostPlatform()).digest, entry('9').digest);
  });

  test('a single-platform config is checked against --platform', () => {
    const config = { os: 'linux', architecture: 'arm64', rootfs: { type: 'layers', diff_ids: [] } } as ImageConfig;
    assertConfigPlatform(config, parsePlatform('linux/arm64/v8'));
    assert.throws(() => assertConfigPlatform(config, parsePlatform('linux/amd64'), 'x:1'), /wanted linux\/amd64, actual: linux\/arm64/);
    assert.equal(platformMatches(normalizePlatform({ os: 'linux', architecture: 'x86_64' }), { os: 'linux', architecture: 'amd64' }), true);
  });
});
