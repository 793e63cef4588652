import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar, progressMessage, encodeMessage } from '../../../src/api/json-progress.ts';
import { humanSize, formatG, humanDuration, bytesSize } from '../../../src/api/units.ts';

describe('units as go-units prints them', () => {
  test('humanSize: 4 significant digits, decimal units', () => {
    assert.equal(humanSize(36412), '36.41kB');
    assert.equal(humanSize(1069358), '1.069MB');
    assert.equal(humanSize(32768), '32.77kB');
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
  });
  test('table sizes use 3 digits as docker images does', () => {
    assert.equal(humanSize(1985512, 3), '1.99MB');
    assert.equal(humanSize(196162259, 3), '196MB');
    assert.equal(humanSize(275873709, 3), '276MB');
  });
  test('formatG switches to exponent like Go', () => {
    assert.equal(formatG(12345, 3), '1.23e+04');
    assert.equal(formatG(1.5, 4), '1.5');
  });
  test('bytesSize and humanDuration', () => {
    assert.equal(bytesSize(2 * 1024 * 1024 * 1024), '2GiB');
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(6 * 60_000 + 5000), '6 minutes');
    assert.equal(humanDuration(60 * 60_000), 'About an hour');
    assert.equal(humanDuration(3 * 24 * 3600_000), '3 days');
  });
});

describe('JSON progress messages (protocol-traces/docker-pull.txt)', () => {
  test('progress bar strings match dockerd byte for byte', () => {
    assert.equal(progressBar(36412, 1069358), '[=>                                                 ]  36.41kB/1.069MB');
    assert.equal(progressBar(1069358, 1069358), '[==================================================>]  1.069MB/1.069MB');
  });
  test('a Downloading event encodes exactly as in the trace', () => {
    const line = encodeMessage(progressMessage({ id: '1233835d6c85', status: 'Downloading', current: 36412, total: 1069358 }));
    assert.equal(
      line,
      '{"status":"Downloading","progressDetail":{"current":36412,"total":1069358},"progress":"[=\\u003e                                                 ]  36.41kB/1.069MB","id":"1233835d6c85"}\r\n',
    );
    assert.equal(line.length, 0xba);
  });
  test('per-layer status lines carry an empty progressDetail; whole-operation lines none', () => {
    assert.equal(encodeMessage(progressMessage({ id: '1233835d6c85', status: 'Pulling fs layer' })), '{"status":"Pulling fs layer","progressDetail":{},"id":"1233835d6c85"}\r\n');
    assert.equal(encodeMessage(progressMessage({ id: '', status: 'Digest: sha256:e0' })), '{"status":"Digest: sha256:e0"}\r\n');
  });
});

describe('image JSON by API version', () => {
  const details = {
    id: `sha256:${'a'.repeat(64)}` as const,
    repoTags: ['busybox:latest'],
    repoDigests: [],
    parent: '',
    comment: '',
    created: '2026-11-22T09:11:38.928764Z',
    dockerVersion: '',
    author: '',
    config: { Cmd: ['/bin/sh'] },
    architecture: 'amd64',
    os: 'linux',
    size: 1985512,
    rootfs: { type: 'layers' as const, diffIds: [] },
    history: [{ comment: 'Imported from -' }],
    labels: {},
    manifests: [],
    containers: -1,
  };
  test('API 1.41 (the trace): Container, ContainerConfig and VirtualSize present, keys in dockerd order', async () => {
    const { imageInspect } = await import('../../../src/api/image-json.ts');
    const j = imageInspect(details as never, '1.41');
    assert.deepEqual(Object.keys(j), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata']);
    assert.equal(j.Comment, 'Imported from -');
    assert.deepEqual(Object.keys(j.Config), ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels']);
    assert.equal(j.Metadata.LastTagTime, '0001-01-01T00:00:00Z');
  });
  test('API 1.45: VirtualSize is gone; ContainerConfig stays (docker-compose 1.29 negotiates 1.45 and reads it to recreate)', async () => {
    const { imageInspect, imageSummary } = await import('../../../src/api/image-json.ts');
    const j = imageInspect(details as never, '1.45');
    assert.ok(!('VirtualSize' in j));
    assert.ok('Container' in j && 'ContainerConfig' in j);
    const s = imageSummary({ id: details.id, repoTags: [], repoDigests: [], parentId: '', created: 1, size: 5, labels: {}, containers: -1 }, '1.45');
    assert.deepEqual(s, { Containers: -1, Created: 1, Id: details.id, Labels: null, ParentId: '', RepoDigests: null, RepoTags: null, SharedSize: -1, Size: 5 });
    assert.equal(imageSummary({ id: details.id, repoTags: [], repoDigests: [], parentId: '', created: 1, size: 5, labels: {}, containers: -1 }, '1.41').VirtualSize, 5);
  });
});
