/**
 * A minimal Docker Engine API client for benchmarks: node:http over a unix
 * socket with keep-alive, nothing else. The same code drives berthd and
 * dockerd, so the client's own cost is identical for both engines and the
 * difference is the engine. API version 1.41 (dockerd 20.10's newest; berthd
 * accepts it).
 */
import { Agent, request } from 'node:http';

export interface Reply {
  status: number;
  body: unknown;
}

/** Time of each step of one container's create → start → wait → delete, in ms. */
export interface LifecycleTimes {
  create: number;
  start: number;
  wait: number;
  delete: number;
  total: number;
}

export class EngineHttp {
  readonly socketPath: string;
  private readonly agent: Agent;
  private readonly prefix: string;

  constructor(socketPath: string, apiVersion = '1.41', maxSockets = 16) {
    this.socketPath = socketPath;
    this.prefix = `/v${apiVersion}`;
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path: this.prefix + path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* plain text body */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Like request(), but a status >= 300 is an error naming the call and the engine's message. */
  async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const reply = await this.request(method, path, body);
    if (reply.status >= 300) {
      const message = (reply.body as { message?: string } | undefined)?.message ?? JSON.stringify(reply.body);
      throw new Error(`${method} ${path} on ${this.socketPath}: HTTP ${reply.status}: ${message}`);
    }
    return reply.body;
  }

  async create(config: Record<string, unknown>): Promise<string> {
    const body = (await this.ok('POST', '/containers/create', config)) as { Id: string };
    return body.Id;
  }

  /** One container from create to removal, each step timed. Throws if the command did not exit 0. */
  async lifecycle(config: Record<string, unknown>): Promise<LifecycleTimes> {
    const t0 = performance.now();
    const id = await this.create(config);
    const t1 = performance.now();
    await this.ok('POST', `/containers/${id}/start`);
    const t2 = performance.now();
    const waited = (await this.ok('POST', `/containers/${id}/wait`)) as { StatusCode: number };
    const t3 = performance.now();
    await this.ok('DELETE', `/containers/${id}`);
    const t4 = performance.now();
    if (waited.StatusCode !== 0) throw new Error(`container ${id} on ${this.socketPath} exited ${waited.StatusCode}`);
    return { create: t1 - t0, start: t2 - t1, wait: t3 - t2, delete: t4 - t3, total: t4 - t0 };
  }

  /** Remove every container this engine has (force), `parallel` at a time. */
  async removeAll(parallel = 4): Promise<number> {
    const list = (await this.ok('GET', '/containers/json?all=1')) as Array<{ Id: string }>;
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < list.length) {
          const { Id } = list[next++]!;
          await this.request('DELETE', `/containers/${Id}?force=1`);
        }
      }),
    );
    return list.length;
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Collect the ids of every container an engine creates while we watch
 * (GET /events, streamed), so the benchmark can check afterwards that none
 * of them left a cgroup behind — also those `--rm` removed by themselves.
 */
export function watchCreatedContainers(socketPath: string, apiVersion = '1.41'): { ids: Set<string>; stop(): void } {
  const ids = new Set<string>();
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'] }));
  let buffered = '';
  const req = request({ socketPath, method: 'GET', path: `/v${apiVersion}/events?filters=${filters}` }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        try {
          const event = JSON.parse(line) as { Actor?: { ID?: string }; id?: string };
          const id = event.Actor?.ID ?? event.id;
          if (id) ids.add(id);
        } catch {
          /* partial or foreign line */
        }
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return { ids, stop: () => req.destroy() };
}
