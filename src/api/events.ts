/**
 * The engine's event log for GET /events (docker events): an in-memory ring
 * of recent events for `since` replays, live subscribers for streaming, and
 * Docker's filters (type, event/action, image, container, label, scope).
 * Image events now (pull, push, tag, untag, delete, import, load, save);
 * container events join with the containers work through the same hub.
 */
import { BerthError } from '../common/errors.ts';
import type { RequestContext } from './context.ts';
import type { Router } from './router.ts';
import { parseTimeFilter } from './time-filter.ts';

export interface EngineEvent {
  Type: 'image' | 'container' | 'network' | 'volume' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Legacy fields docker still sends for images and containers. */
  status?: string;
  id?: string;
  from?: string;
}

export type EventListener = (e: EngineEvent) => void;

export class EventHub {
  private readonly ring: EngineEvent[] = [];
  private readonly capacity: number;
  private readonly listeners = new Set<EventListener>();
  private lastNano = 0;

  constructor(capacity = 1024) {
    this.capacity = capacity;
  }

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    // Strictly increasing timestamps so since/until are exact even for events in the same millisecond.
    // (Steps of 1024 ns: nanosecond times exceed 2^53, where a double's resolution is 256 ns.)
    let nano = Date.now() * 1_000_000;
    if (nano <= this.lastNano) nano = this.lastNano + 1024;
    this.lastNano = nano;
    const event: EngineEvent = {
      ...(type === 'image' || type === 'container' ? { status: action, id, ...(attributes.image ? { from: attributes.image } : {}) } : {}),
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(nano / 1e9),
      timeNano: nano,
    };
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Events at or after `sinceNano` still in memory. */
  recent(sinceNano: number): EngineEvent[] {
    return this.ring.filter((e) => e.timeNano >= sinceNano);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const FILTER_KEYS = ['type', 'event', 'image', 'container', 'label', 'scope', 'daemon', 'network', 'volume', 'plugin', 'node', 'service', 'secret', 'config'];

/** Docker's event filters; values within one key are OR, keys are AND. */
export function eventMatcher(filters: Map<string, string[]>): (e: EngineEvent) => boolean {
  for (const key of filters.keys()) {
    if (!FILTER_KEYS.includes(key)) throw new BerthError('BERTH_API_BAD_FILTERS', `invalid filter '${key}'`, { status: 400 });
  }
  const any = (key: string, test: (v: string) => boolean) => {
    const values = filters.get(key);
    return !values?.length || values.some(test);
  };
  return (e) =>
    any('type', (v) => v === e.Type) &&
    any('event', (v) => v === e.Action || e.Action.startsWith(`${v}:`)) &&
    any('scope', (v) => v === e.scope) &&
    any('image', (v) =>
      e.Type === 'image'
        ? e.Actor.ID === v || e.Actor.Attributes.name === v || e.Actor.ID.startsWith(v) || stripTag(e.Actor.Attributes.name) === v
        : e.Actor.Attributes.image === v || stripTag(e.Actor.Attributes.image) === v,
    ) &&
    any('container', (v) => e.Type === 'container' && (e.Actor.ID.startsWith(v) || e.Actor.Attributes.name === v)) &&
    any('volume', (v) => e.Type === 'volume' && e.Actor.ID === v) &&
    any('network', (v) => e.Type === 'network' && (e.Actor.ID === v || e.Actor.Attributes.name === v)) &&
    any('label', (v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? v in e.Actor.Attributes : e.Actor.Attributes[v.slice(0, eq)] === v.slice(eq + 1);
    });
}

function stripTag(name: string | undefined): string | undefined {
  if (!name) return name;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

function toNano(seconds: number): number {
  return Math.round(seconds * 1e9);
}

/** GET /events: replay from `since`, stream live events until `until` or the client leaves. */
export function addEventRoutes(router: Router, hub: EventHub): void {
  router.get('/events', async (ctx: RequestContext) => {
    const match = eventMatcher(ctx.filters());
    const sinceRaw = ctx.query.get('since');
    const untilRaw = ctx.query.get('until');
    const since = sinceRaw ? toNano(parseTimeFilter(sinceRaw)) : undefined;
    const until = untilRaw ? toNano(parseTimeFilter(untilRaw)) : undefined;
    if (since !== undefined && until !== undefined && until < since) {
      throw new BerthError('BERTH_API_BAD_PARAMETER', '`until` must be after `since`', { status: 400 });
    }
    const res = ctx.res!;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const send = (e: EngineEvent) => {
      if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(e) + '\n');
    };
    const backlog = since !== undefined ? hub.recent(since) : [];
    let stopAt: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const finish = () => {
        unsubscribe();
        if (stopAt) clearTimeout(stopAt);
        if (!res.writableEnded) res.end();
        resolve();
      };
      const unsubscribe = hub.subscribe((e) => {
        if (until !== undefined && e.timeNano > until) return finish();
        if (match(e)) send(e);
      });
      for (const e of backlog) if ((until === undefined || e.timeNano <= until) && match(e)) send(e);
      if (until !== undefined) {
        const wait = until / 1e6 - Date.now();
        if (wait <= 0) return finish();
        stopAt = setTimeout(finish, Math.min(wait, 2 ** 31 - 1));
      }
      res.once('close', finish);
    });
  });
}
