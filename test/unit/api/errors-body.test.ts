import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { toApiError } from '../../../src/api/errors.ts';
import { readLimited, parseJsonBody } from '../../../src/api/body.ts';
import { parseFilters } from '../../../src/api/context.ts';
import { BerthError, isBerthError, notFound, conflict } from '../../../src/common/errors.ts';

describe('error mapping', () => {
  test('BerthError keeps its status and message', () => {
    assert.deepEqual(toApiError(notFound('BERTH_IMAGE_NOT_FOUND', 'No such image: x:latest')), { status: 404, message: 'No such image: x:latest' });
    assert.deepEqual(toApiError(conflict('BERTH_IMAGE_IN_USE', 'in use')), { status: 409, message: 'in use' });
    assert.equal(toApiError(new BerthError('X', 'bad', { status: 400 })).status, 400);
  });
  test('a BerthError with a non-error status becomes 500', () => {
    assert.equal(toApiError(new BerthError('X', 'odd', { status: 200 })).status, 500);
  });
  test('filesystem errors map to what users expect', () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    assert.equal(toApiError(enoent).status, 404);
    const eexist = Object.assign(new Error('EEXIST'), { code: 'EEXIST' });
    assert.equal(toApiError(eexist).status, 409);
  });
  test('anything else is 500 with its message', () => {
    assert.deepEqual(toApiError(new Error('boom')), { status: 500, message: 'boom' });
    assert.deepEqual(toApiError('text'), { status: 500, message: 'text' });
  });
});

describe('JSON bodies', () => {
  test('a body within the limit is read whole', async () => {
    const buf = await readLimited(Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]), 100);
    assert.equal(buf.toString(), '{"a":1}');
  });
  test('a declared length over the limit is refused before reading', async () => {
    await assert.rejects(readLimited(Readable.from([Buffer.alloc(10)]), 5, 10), (err: unknown) => isBerthError(err, 'BERTH_API_BODY_TOO_LARGE') && err.status === 400);
  });
  test('a streamed body that grows past the limit is refused', async () => {
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(1024));
    await assert.rejects(readLimited(Readable.from(chunks), 4096), (err: unknown) => isBerthError(err, 'BERTH_API_BODY_TOO_LARGE') && /4096 bytes/.test(err.message));
  });
  test('malformed JSON is a 400 that says so', () => {
    assert.throws(() => parseJsonBody(Buffer.from('{"a":'), 'application/json'), (err: unknown) => isBerthError(err, 'BERTH_API_BAD_JSON') && err.status === 400 && /invalid JSON/.test(err.message));
  });
  test('empty body is undefined; wrong Content-Type is refused', () => {
    assert.equal(parseJsonBody(Buffer.from('  '), 'application/json'), undefined);
    assert.throws(() => parseJsonBody(Buffer.from('{}'), 'text/plain'), (err: unknown) => isBerthError(err, 'BERTH_API_CONTENT_TYPE'));
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":1}'), 'application/json; charset=utf-8'), { a: 1 });
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":1}'), undefined), { a: 1 });
  });
});

describe('filters parameter', () => {
  test('both Docker forms parse to name → values', () => {
    assert.deepEqual([...parseFilters('{"dangling":["true"]}')], [['dangling', ['true']]]);
    assert.deepEqual([...parseFilters('{"label":{"a=b":true,"c":false}}')], [['label', ['a=b']]]);
    assert.equal(parseFilters(null).size, 0);
  });
  test('malformed filters are a 400', () => {
    assert.throws(() => parseFilters('{nope'), (err: unknown) => isBerthError(err, 'BERTH_API_BAD_FILTERS') && err.status === 400);
    assert.throws(() => parseFilters('[1]'), (err: unknown) => isBerthError(err, 'BERTH_API_BAD_FILTERS'));
    assert.throws(() => parseFilters('{"a":1}'), (err: unknown) => isBerthError(err, 'BERTH_API_BAD_FILTERS'));
  });
});
