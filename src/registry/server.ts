/**
 * `startRegistry`: an OCI distribution registry on node:http, serving the
 * Registry library rooted at `root`. Used by `berth registry serve` (main.ts)
 * and by tests that need a real registry on an ephemeral loopback port.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { BerthError } from '../common/errors.ts';
import type { ContentStore } from '../content/types.ts';
import { createRequestHandler } from './http.ts';
import { Registry } from './registry.ts';

const PURGE_INTERVAL_MS = 6 * 3600 * 1000;

export interface StartRegistryOptions {
  /** host:port to listen on; port 0 picks a free port. IPv6 as [::1]:port. */
  addr: string;
  /** Directory holding the registry's data (content store and repositories/). */
  root: string;
  /** Serve from this content store instead of <root>/content. */
  store?: ContentStore;
  /** Upload writers open at once (default 256); see RegistryOptions. */
  maxOpenUploads?: number;
  /** Receives a line per server-side failure (5xx); `berth registry serve` passes stderr. */
  log?: (line: string) => void;
}

export interface RunningRegistry {
  /** http://host:port, with the real port. */
  url: string;
  port: number;
  registry: Registry;
  /** Stop accepting, end idle keep-alive connections, wait for requests in flight, release upload writers. */
  close(): Promise<void>;
}

export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new BerthError('BERTH_REGISTRY_INVALID_ADDR', `invalid --addr "${addr}": expected host:port (e.g. 127.0.0.1:5000, [::1]:5000, :5000)`, { status: 400 });
  }
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

export async function startRegistry(options: StartRegistryOptions): Promise<RunningRegistry> {
  const { host, port } = parseAddr(options.addr);
  const registry = await Registry.open(options.root, { store: options.store, maxOpenUploads: options.maxOpenUploads });
  // Sessions a client abandoned are dropped after STALE_UPLOAD_MS, checked at start and every few hours.
  let purging: Promise<unknown> = Promise.resolve();
  const purge = () => {
    purging = purging.then(() => registry.purgeStaleUploads()).catch(() => {});
  };
  purge();
  const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS);
  purgeTimer.unref();
  const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, highWaterMark: 1 << 20 }, createRequestHandler(registry, options.log ? { log: options.log } : {}));
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  try {
    await listen(server, host, port);
  } catch (err) {
    clearInterval(purgeTimer);
    await purging;
    await registry.close();
    throw new BerthError('BERTH_REGISTRY_LISTEN', `cannot listen on ${options.addr}: ${(err as Error).message}`, { status: 500, cause: err });
  }
  const address = server.address();
  if (address === null || typeof address === 'string') throw new BerthError('BERTH_REGISTRY_LISTEN', `unexpected listen address for ${options.addr}`);
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    registry,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Requests in flight get a grace period, then their sockets are cut.
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 5_000);
        timer.unref();
        await closed;
        clearTimeout(timer);
        clearInterval(purgeTimer);
        await purging;
        await registry.close();
      })();
      return closing;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
