import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EventHub, eventMatcher } from '../../../src/api/events.ts';
import { parseTimeFilter } from '../../../src/api/time-filter.ts';
import { isBerthError } from '../../../src/common/errors.ts';

describe('event hub', () => {
  test('events carry Docker\'s fields, strictly increasing times, and reach subscribers', () => {
    const hub = new EventHub(3);
    const seen: string[] = [];
    const off = hub.subscribe((e) => seen.push(e.Action));
    const a = hub.emit('image', 'pull', 'busybox:latest', { name: 'busybox' });
    const b = hub.emit('image', 'tag', 'sha256:abc', { name: 'x:1' });
    off();
    hub.emit('image', 'delete', 'sha256:abc');
    assert.deepEqual(seen, ['pull', 'tag']);
    assert.equal(a.status, 'pull');
    assert.equal(a.id, 'busybox:latest');
    assert.equal(a.Type, 'image');
    assert.deepEqual(a.Actor, { ID: 'busybox:latest', Attributes: { name: 'busybox' } });
    assert.equal(a.scope, 'local');
    assert.ok(b.timeNano > a.timeNano);
    assert.equal(a.time, Math.floor(a.timeNano / 1e9));
  });
  test('the ring keeps the newest events for since replays', () => {
    const hub = new EventHub(2);
    hub.emit('image', 'pull', 'a');
    const second = hub.emit('image', 'pull', 'b');
    hub.emit('image', 'pull', 'c');
    assert.deepEqual(hub.recent(0).map((e) => e.Actor.ID), ['b', 'c']);
    assert.deepEqual(hub.recent(second.timeNano + 512).map((e) => e.Actor.ID), ['c']);
  });
});

describe('event filters', () => {
  const hub = new EventHub();
  const pull = hub.emit('image', 'pull', 'busybox:latest', { name: 'busybox' });
  const tag = hub.emit('image', 'tag', 'sha256:abc', { name: 'mine:1' });
  test('type, event, image (by id, name, or name without tag)', () => {
    assert.ok(eventMatcher(new Map([['type', ['image']]]))(pull));
    assert.ok(!eventMatcher(new Map([['type', ['container']]]))(pull));
    assert.ok(eventMatcher(new Map([['event', ['pull', 'push']]]))(pull));
    assert.ok(!eventMatcher(new Map([['event', ['push']]]))(pull));
    assert.ok(eventMatcher(new Map([['image', ['busybox']]]))(pull));
    assert.ok(eventMatcher(new Map([['image', ['sha256:abc']]]))(tag));
    assert.ok(eventMatcher(new Map([['image', ['mine']]]))(tag));
    assert.ok(!eventMatcher(new Map([['image', ['other']]]))(tag));
  });
  test('unknown filter keys are a 400', () => {
    assert.throws(() => eventMatcher(new Map([['bogus', ['1']]])), (e: unknown) => isBerthError(e, 'BERTH_API_BAD_FILTERS') && e.status === 400);
  });
  test('time arguments: seconds, RFC 3339, durations; garbage is a 400', () => {
    assert.equal(parseTimeFilter('1700000000'), 1700000000);
    assert.equal(parseTimeFilter('1700000000.5'), 1700000000.5);
    assert.equal(parseTimeFilter('2026-01-01T00:00:00Z'), Date.UTC(2026, 0, 1) / 1000);
    assert.equal(parseTimeFilter('1h30m', 10_000_000), 10_000 - 5400);
    assert.throws(() => parseTimeFilter('yesterday'), (e: unknown) => isBerthError(e, 'BERTH_API_BAD_TIME') && e.status === 400);
  });
});
