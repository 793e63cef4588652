import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startTestRegistry,
  sha256,
  errorCode,
  pushBlob,
  pushImageBlobs,
  putManifest,
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_LIST,
  type RegistryFixture,
} from './registry-fixture.ts';

describe('registry manifests', () => {
  let reg: RegistryFixture;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => {
    await reg?.close();
  });

  test('PUT by tag stores the exact bytes; GET and HEAD by tag and digest serve them with type and digest', async () => {
    const { manifest, digest } = await pushImageBlobs(reg.url, 'm/basic', 'basic');
    // Unusual whitespace must survive: the registry stores bytes, not JSON.
    const bytes = Buffer.from(manifest.toString().replace('{', '{  \n'));
    const d = sha256(bytes);
    assert.notEqual(d, digest);
    const put = await putManifest(reg.url, 'm/basic', 'v1', bytes);
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('location'), `/v2/m/basic/manifests/${d}`);
    assert.equal(put.headers.get('docker-content-digest'), d);

    for (const ref of ['v1', d]) {
      const get = await fetch(`${reg.url}/v2/m/basic/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(get.status, 200, ref);
      assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(get.headers.get('docker-content-digest'), d);
      assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes));
      const head = await fetch(`${reg.url}/v2/m/basic/manifests/${ref}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(bytes.length));
      assert.equal(head.headers.get('docker-content-digest'), d);
    }
  });

  test('Docker schema 2 manifests are accepted by digest and served with their media type', async () => {
    const { manifest } = await pushImageBlobs(reg.url, 'm/docker', 'docker');
    const doc = JSON.parse(manifest.toString());
    doc.mediaType = DOCKER_MANIFEST;
    doc.config.mediaType = 'application/vnd.docker.container.image.v1+json';
    doc.layers[0].mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
    const bytes = Buffer.from(JSON.stringify(doc, null, 3));
    const d = sha256(bytes);
    const put = await putManifest(reg.url, 'm/docker', d, bytes, DOCKER_MANIFEST);
    assert.equal(put.status, 201);
    const get = await fetch(`${reg.url}/v2/m/docker/manifests/${d}`);
    assert.equal(get.headers.get('content-type'), DOCKER_MANIFEST);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes));
  });

  test('a manifest referencing a blob the repository lacks is 400 MANIFEST_BLOB_UNKNOWN and nothing is tagged', async () => {
    const { manifest } = await pushImageBlobs(reg.url, 'm/other', 'elsewhere');
    const put = await putManifest(reg.url, 'm/missing', 'v1', manifest);
    assert.equal(put.status, 400);
    const body = (await put.json()) as { errors: { code: string; detail: { digest: string } }[] };
    assert.equal(body.errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN');
    assert.match(body.errors[0]!.detail.digest, /^sha256:/);
    const get = await fetch(`${reg.url}/v2/m/missing/manifests/v1`);
    assert.equal(get.status, 404);
  });

  test('malformed manifests are 400 MANIFEST_INVALID', async () => {
    const config = await pushBlob(reg.url, 'm/bad', Buffer.from('{}'));
    const cases: [string, string, string][] = [
      ['not json', '{"schemaVersion": 2,', OCI_MANIFEST],
      ['an array', '[]', OCI_MANIFEST],
      ['deeply nested', '['.repeat(500_000) + ']'.repeat(500_000), OCI_MANIFEST],
      ['schema 1', JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      ['unknown media type', JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-weird', config: {}, layers: [] }), 'application/x-weird'],
      ['content-type/mediaType disagree', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: config, size: 2 }, layers: [] }), DOCKER_MANIFEST],
      ['bad descriptor digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:zz', size: 2 }, layers: [] }), OCI_MANIFEST],
      ['negative size', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: config, size: -1 }, layers: [] }), OCI_MANIFEST],
      ['layers not an array', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: config, size: 2 }, layers: {} }), OCI_MANIFEST],
      ['wrong size of a present blob', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: config, size: 3 }, layers: [] }), OCI_MANIFEST],
    ];
    for (const [what, body, type] of cases) {
      const res = await putManifest(reg.url, 'm/bad', 'latest', Buffer.from(body), type);
      assert.equal(res.status, 400, what);
      assert.equal(await errorCode(res), 'MANIFEST_INVALID', what);
    }
    assert.equal((await fetch(`${reg.url}/v2/m/bad/manifests/latest`)).status, 404);
  });

  test('a manifest over 4 MiB is 413', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await putManifest(reg.url, 'm/huge', 'v1', huge);
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), 'SIZE_INVALID');
  });

  test('PUT by a digest that does not match the bytes is 400 DIGEST_INVALID', async () => {
    const { manifest } = await pushImageBlobs(reg.url, 'm/dmis', 'dmis');
    const res = await putManifest(reg.url, 'm/dmis', sha256('other'), manifest);
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
  });

  test('invalid tags are refused; unknown tags and digests are 404 MANIFEST_UNKNOWN', async () => {
    const bad = await putManifest(reg.url, 'm/basic', '-tag', Buffer.from('{}'));
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'MANIFEST_INVALID');
    for (const ref of ['nope', sha256('nope')]) {
      const res = await fetch(`${reg.url}/v2/m/basic/manifests/${ref}`);
      assert.equal(res.status, 404);
      assert.equal(await errorCode(res), 'MANIFEST_UNKNOWN');
    }
  });

  test('an index must reference manifests already in the repository; Accept negotiation picks linux/amd64 for clients without index support', async () => {
    const { manifest } = await pushImageBlobs(reg.url, 'm/index', 'amd64');
    const doc = JSON.parse(manifest.toString());
    doc.mediaType = DOCKER_MANIFEST;
    const child = Buffer.from(JSON.stringify(doc));
    const childDigest = sha256(child);
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [{ mediaType: DOCKER_MANIFEST, digest: childDigest, size: child.length, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    );
    const early = await putManifest(reg.url, 'm/index', 'multi', list, DOCKER_LIST);
    assert.equal(early.status, 400);
    assert.equal(await errorCode(early), 'MANIFEST_BLOB_UNKNOWN');

    assert.equal((await putManifest(reg.url, 'm/index', childDigest, child, DOCKER_MANIFEST)).status, 201);
    assert.equal((await putManifest(reg.url, 'm/index', 'multi', list, DOCKER_LIST)).status, 201);

    const full = await fetch(`${reg.url}/v2/m/index/manifests/multi`, { headers: { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` } });
    assert.equal(full.headers.get('content-type'), DOCKER_LIST);
    await full.arrayBuffer();
    const single = await fetch(`${reg.url}/v2/m/index/manifests/multi`, { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(single.status, 200);
    assert.equal(single.headers.get('content-type'), DOCKER_MANIFEST);
    assert.equal(single.headers.get('docker-content-digest'), childDigest);
    await single.arrayBuffer();

    // An OCI manifest by tag to a client that only takes Docker's type: not found, as distribution answers.
    const { manifest: oci } = await pushImageBlobs(reg.url, 'm/index', 'oci');
    assert.equal((await putManifest(reg.url, 'm/index', 'oci', oci)).status, 201);
    const refused = await fetch(`${reg.url}/v2/m/index/manifests/oci`, { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(refused.status, 404);
    assert.equal(await errorCode(refused), 'MANIFEST_UNKNOWN');
    const wildcard = await fetch(`${reg.url}/v2/m/index/manifests/oci`, { headers: { Accept: '*/*' } });
    assert.equal(wildcard.status, 200);
    await wildcard.arrayBuffer();
  });

  test('DELETE by tag removes only the tag; DELETE by digest removes the manifest and its tags', async () => {
    const { manifest, digest } = await pushImageBlobs(reg.url, 'm/del', 'del');
    assert.equal((await putManifest(reg.url, 'm/del', 'a', manifest)).status, 201);
    assert.equal((await putManifest(reg.url, 'm/del', 'b', manifest)).status, 201);

    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/a`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/a`)).status, 404);
    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/b`, { method: 'HEAD' })).status, 200);
    const tagAgain = await fetch(`${reg.url}/v2/m/del/manifests/a`, { method: 'DELETE' });
    assert.equal(tagAgain.status, 404);
    assert.equal(await errorCode(tagAgain), 'MANIFEST_UNKNOWN');

    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/${digest}`, { method: 'HEAD' })).status, 404);
    assert.equal((await fetch(`${reg.url}/v2/m/del/manifests/b`, { method: 'HEAD' })).status, 404);
    const tags = (await (await fetch(`${reg.url}/v2/m/del/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, []);

    const unknownRepo = await fetch(`${reg.url}/v2/m/nosuchrepo/manifests/${digest}`, { method: 'DELETE' });
    assert.equal(unknownRepo.status, 404);
    assert.equal(await errorCode(unknownRepo), 'NAME_UNKNOWN');
  });

  test('tags list paginates with n, last and a Link header, in byte order', async () => {
    const { manifest } = await pushImageBlobs(reg.url, 'm/tags', 'tags');
    const tags = ['v2', 'V1', 'latest', '1.0', 'alpha', '_x'];
    for (const t of tags) assert.equal((await putManifest(reg.url, 'm/tags', t, manifest)).status, 201);
    const sorted = [...tags].sort();

    const all = await fetch(`${reg.url}/v2/m/tags/tags/list`);
    assert.deepEqual(await all.json(), { name: 'm/tags', tags: sorted });
    assert.equal(all.headers.get('link'), null);

    const seen: string[] = [];
    let next: string | null = '/v2/m/tags/tags/list?n=4';
    let pages = 0;
    while (next) {
      const res: Response = await fetch(`${reg.url}${next}`);
      const body = (await res.json()) as { tags: string[] };
      seen.push(...body.tags);
      const link = res.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
      pages++;
    }
    assert.deepEqual(seen, sorted);
    assert.equal(pages, 2);

    const first = await fetch(`${reg.url}/v2/m/tags/tags/list?n=2`);
    assert.equal(first.headers.get('link'), `</v2/m/tags/tags/list?n=2&last=${sorted[1]}>; rel="next"`);
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, sorted.slice(0, 2));

    const afterLast = await fetch(`${reg.url}/v2/m/tags/tags/list?last=latest`);
    assert.deepEqual(((await afterLast.json()) as { tags: string[] }).tags, sorted.filter((t) => t > 'latest'));

    const zero = await fetch(`${reg.url}/v2/m/tags/tags/list?n=0`);
    assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);
    assert.equal(zero.headers.get('link'), null);

    const badN = await fetch(`${reg.url}/v2/m/tags/tags/list?n=-1`);
    assert.equal(badN.status, 400);
    await badN.arrayBuffer();

    const unknown = await fetch(`${reg.url}/v2/m/never/tags/list`);
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'NAME_UNKNOWN');
  });

  test('referrers: subject on PUT answers OCI-Subject; the referrers index lists descriptors, filters by artifactType', async () => {
    const { manifest: subjectBytes, digest: subject } = await pushImageBlobs(reg.url, 'm/refs', 'subject');
    assert.equal((await putManifest(reg.url, 'm/refs', 'v1', subjectBytes)).status, 201);
    const subjectDesc = { mediaType: OCI_MANIFEST, digest: subject, size: subjectBytes.length };

    const empty = await pushBlob(reg.url, 'm/refs', Buffer.from('{}'));
    const emptyDesc = { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 };
    const sig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig+json', config: emptyDesc, layers: [emptyDesc], subject: subjectDesc, annotations: { 'org.example.k': 'v' } }));
    const sbom = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...emptyDesc, mediaType: 'application/vnd.example.sbom' }, layers: [emptyDesc], subject: subjectDesc }));
    // The sbom's config is the empty blob under another media type; re-push is a no-op and links it.
    for (const m of [sig, sbom]) {
      const put = await putManifest(reg.url, 'm/refs', sha256(m), m);
      assert.equal(put.status, 201);
      assert.equal(put.headers.get('oci-subject'), subject);
    }

    const res = await fetch(`${reg.url}/v2/m/refs/referrers/${subject}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: { digest: string; artifactType?: string; annotations?: Record<string, string>; size: number }[] };
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(byDigest.size, 2);
    assert.equal(byDigest.get(sha256(sig))!.artifactType, 'application/vnd.example.sig+json');
    assert.deepEqual(byDigest.get(sha256(sig))!.annotations, { 'org.example.k': 'v' });
    assert.equal(byDigest.get(sha256(sig))!.size, sig.length);
    assert.equal(byDigest.get(sha256(sbom))!.artifactType, 'application/vnd.example.sbom', 'falls back to the config media type');

    const filtered = await fetch(`${reg.url}/v2/m/refs/referrers/${subject}?artifactType=application/vnd.example.sbom`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest), [sha256(sbom)]);

    // "+" in a media type, sent unencoded or encoded, is the same filter.
    for (const q of ['application/vnd.example.sig+json', 'application%2Fvnd.example.sig%2Bjson']) {
      const plus = await fetch(`${reg.url}/v2/m/refs/referrers/${subject}?artifactType=${q}`);
      assert.equal(plus.status, 200);
      assert.deepEqual(((await plus.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest), [sha256(sig)], q);
    }

    const none = await fetch(`${reg.url}/v2/m/refs/referrers/${sha256('no referrers')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);

    const bad = await fetch(`${reg.url}/v2/m/refs/referrers/sha256:nothex`);
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'DIGEST_INVALID');

    assert.equal((await fetch(`${reg.url}/v2/m/refs/manifests/${sha256(sig)}`, { method: 'DELETE' })).status, 202);
    const afterDelete = (await (await fetch(`${reg.url}/v2/m/refs/referrers/${subject}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(afterDelete.manifests.map((m) => m.digest), [sha256(sbom)]);
  });
});

test('catalog lists repositories in order and paginates with Link', async () => {
  const reg = await startTestRegistry();
  try {
    const names = ['zeta', 'alpha/one', 'alpha/two', 'beta', 'alpha'];
    for (const n of names) await pushBlob(reg.url, n, Buffer.from(`blob of ${n}`));
    const sorted = [...names].sort();
    const all = await fetch(`${reg.url}/v2/_catalog`);
    assert.deepEqual(await all.json(), { repositories: sorted });

    const first = await fetch(`${reg.url}/v2/_catalog?n=2`);
    assert.deepEqual(((await first.json()) as { repositories: string[] }).repositories, sorted.slice(0, 2));
    assert.equal(first.headers.get('link'), `</v2/_catalog?n=2&last=${encodeURIComponent(sorted[1]!)}>; rel="next"`);
    const second = await fetch(`${reg.url}/v2/_catalog?n=2&last=${sorted[1]}`);
    assert.deepEqual(((await second.json()) as { repositories: string[] }).repositories, sorted.slice(2, 4));
  } finally {
    await reg.close();
  }
});
