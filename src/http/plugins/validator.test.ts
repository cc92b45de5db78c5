// Validators and serializers compile on a route's first request (validator.ts): every schema must still compile,
// and a route's first answer must be the one it gives once compiled.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';

describe('schemas compiled on first use', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('sqlite');
  });
  after(() => t.close());

  const sameAnswer = async (request: InjectOptions) => {
    const [first, second] = [await t.app.inject(request), await t.app.inject(request)];
    const strip = (body: string) => body.replace(/"requestId":"[^"]+"/, '');
    assert.equal(first.statusCode, second.statusCode);
    assert.equal(strip(first.body), strip(second.body));
    return first;
  };

  test('a first request is validated and coerced as later ones are', async () => {
    const number = { 'x-api-key': t.numberA.key.key };
    // Query strings are coerced (Ajv replaces the values through the parent Fastify passes in).
    const listed = await sameAnswer({ method: 'GET', url: '/v1/calls?limit=3', headers: number });
    assert.equal(listed.statusCode, 200);
    const refused = await sameAnswer({ method: 'GET', url: '/v1/calls?limit=abc', headers: number });
    assert.equal(refused.statusCode, 400);
    assert.deepEqual(Object.keys(refused.json()).sort(), ['code', 'details', 'error', 'requestId']);
    assert.equal(refused.json().code, 'VALIDATION_ERROR');
    const bodyRefused = await sameAnswer({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { ...number, 'content-type': 'application/json' },
      payload: '{"url":42}',
    });
    assert.equal(bodyRefused.statusCode, 400);
    assert.equal(bodyRefused.json().code, 'VALIDATION_ERROR');
  });

  test("every route's validators and serializers compile", () => {
    const compiled = t.compileSchemas();
    assert.ok(compiled > 50, `expected the routes' pending schemas, got ${compiled}`);
    assert.equal(t.compileSchemas(), 0, 'nothing is left to compile');
  });
});
