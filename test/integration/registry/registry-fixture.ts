/**
 * A real registry on an ephemeral loopback port in a temp dir, plus small
 * helpers to talk to it with fetch (the spec's requests, written out so the
 * tests read like the spec).
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { startRegistry, type RunningRegistry } from '../../../src/registry/server.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

export interface RegistryFixture {
  url: string;
  root: string;
  dir: string;
  server: RunningRegistry;
  close(): Promise<void>;
}

export async function startTestRegistry(): Promise<RegistryFixture> {
  const dir = await makeTempDir('berth-registry-');
  const root = `${dir}/root`;
  let server: RunningRegistry;
  try {
    server = await startRegistry({ addr: '127.0.0.1:0', root });
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
  return {
    url: server.url,
    root,
    dir,
    server,
    async close() {
      try {
        await server.close();
      } finally {
        await removeTempDir(dir);
      }
    },
  };
}

export function sha256(bytes: Uint8Array | string): `sha256:${string}` {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** Assert-friendly: the first error code of a registry error body. */
export async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as ErrorBody;
  return body.errors[0]!.code;
}

/** Monolithic upload; returns the digest. */
export async function pushBlob(url: string, name: string, bytes: Uint8Array): Promise<`sha256:${string}`> {
  const digest = sha256(bytes);
  const res = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
  if (res.status !== 201) throw new Error(`push blob to ${name}: ${res.status} ${await res.text()}`);
  return digest;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Push a config + one layer and return an OCI manifest (bytes not yet pushed) over them. */
export async function pushImageBlobs(url: string, name: string, seed: string, extra: Record<string, unknown> = {}): Promise<{ manifest: Buffer; digest: `sha256:${string}`; layer: `sha256:${string}`; config: `sha256:${string}` }> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const layerBytes = Buffer.from(`layer of ${seed}`);
  const config = await pushBlob(url, name, configBytes);
  const layer = await pushBlob(url, name, layerBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: layerBytes.length }],
      ...extra,
    }),
  );
  return { manifest, digest: sha256(manifest), layer, config };
}

export async function putManifest(url: string, name: string, reference: string, bytes: Uint8Array, contentType = OCI_MANIFEST): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${reference}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': contentType } });
}

/** A request with the path sent exactly as given (fetch would normalise `..` away). */
export function rawRequest(url: string, method: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
