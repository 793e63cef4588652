/**
 * Engine events (`docker events`): services publish, the API streams them
 * with filters. Kept in memory for `since` replays, bounded.
 */
import { EventEmitter } from 'node:events';

/** Docker's event message (api/types/events). */
export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'builder';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  // Legacy fields the docker CLI still reads for containers and images.
  status?: string;
  id?: string;
  from?: string;
}

const KEEP = 1024;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly recent: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const event: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      event.status = action;
      event.id = id;
      if (attributes.image) event.from = attributes.image;
    }
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.shift();
    this.emitter.emit('event', event);
    return event;
  }

  /** Events already published at or after `sinceNano`. */
  since(sinceNano: number): EngineEvent[] {
    return this.recent.filter((e) => e.timeNano >= sinceNano);
  }

  subscribe(listener: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
