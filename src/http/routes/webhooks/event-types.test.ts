// GET /v1/webhooks/event-types: the server's own list of events, which forms offer as checkboxes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';

describe('webhook event types', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('sqlite', { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
  });
  after(() => t.close());

  const list = (headers: Record<string, string>) =>
    t.app.inject({ method: 'GET', url: '/v1/webhooks/event-types', headers });

  test('either key gets every event with a description, and each one is accepted by a new webhook', async () => {
    const asTenant = await list({ 'x-api-key': t.tenantKey.key });
    assert.equal(asTenant.statusCode, 200, asTenant.body);
    const { events } = asTenant.json() as { events: { name: string; description: string }[] };
    const names = events.map((e) => e.name);
    for (const expected of ['call.ringing', 'call.connected', 'call.ended', 'call.missed']) {
      assert.ok(names.includes(expected), `${expected} is listed`);
    }
    assert.ok(!names.includes('*'), 'the wildcard is not an event');
    assert.ok(events.every((e) => e.description.length > 10));
    const asNumber = await list({ 'x-api-key': t.numberA.key.key });
    assert.deepEqual(asNumber.json(), asTenant.json());

    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { 'x-api-key': t.numberA.key.key },
      payload: { url: 'http://127.0.0.1:9/hook', events: names },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().events, names);
  });

  test('without a key it is 401 in the error envelope', async () => {
    const res = await list({});
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'UNAUTHORIZED');
  });
});
