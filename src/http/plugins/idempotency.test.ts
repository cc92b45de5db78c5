// Idempotency-Key (docs/spec/calls-api.md §3): replay, reuse with another body, concurrency, terminate waits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { callIn, nextPeer, outbox } from '../../../test/helpers/calls.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';
import { claimCallAction } from '../../store/calls.ts';

for (const kind of storeKinds()) {
  describe(`Idempotency-Key [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      // The slow provider answers injected below (200 ms) must come inside its deadline (400 ms in tests) on a busy
      // machine too.
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '2000' } });
    });
    after(() => t.close());

    const startCall = (key: string, to: string, extra: object = {}) =>
      fetch(`${t.baseUrl}/v1/calls`, {
        method: 'POST',
        headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ to, sdp: CANNED_OFFER_SDP, ...extra }),
      });
    const permitted = () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      return peer;
    };

    test('same key, same body → the same response and one provider request', async () => {
      const to = permitted();
      const first = await startCall('k-same', to);
      const second = await startCall('k-same', to);
      assert.equal(first.status, 201);
      assert.equal(second.status, 201);
      assert.deepEqual(await second.json(), await first.json());
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.equal(t.fake.requests.filter((r) => r.body?.action === 'connect' && r.body?.to === to).length, 1);
    });

    test('same key, another body → 422 IDEMPOTENCY_KEY_REUSED, nothing sent', async () => {
      const to = permitted();
      assert.equal((await startCall('k-other', to)).status, 201);
      const other = permitted();
      const res = await startCall('k-other', other);
      assert.equal(res.status, 422);
      assert.equal((await res.json()).code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(t.fake.requests.filter((r) => r.body?.action === 'connect' && r.body?.to === other).length, 0);
    });

    test('the key is scoped to the API key: another number may use the same one', async () => {
      const to = nextPeer();
      t.fake.grantPermission(t.numberB.phoneNumberId, to, 'temporary');
      const res = await fetch(`${t.baseUrl}/v1/calls`, {
        method: 'POST',
        headers: { 'x-api-key': t.numberB.key.key, 'idempotency-key': 'k-same', 'content-type': 'application/json' },
        body: JSON.stringify({ to, sdp: CANNED_OFFER_SDP }),
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('idempotent-replayed'), null);
    });

    test('concurrent requests with one key → one provider request; the others get 409 or the stored response', async () => {
      const to = permitted();
      t.fake.inject({ action: 'connect', latencyMs: 200 });
      const responses = await Promise.all(Array.from({ length: 8 }, () => startCall('k-race', to)));
      const statuses = responses.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 201).length >= 1, true, String(statuses));
      assert.ok(
        statuses.every((s) => s === 201 || s === 409),
        String(statuses),
      );
      for (const r of responses.filter((x) => x.status === 409)) {
        assert.equal((await r.json()).code, 'IDEMPOTENCY_IN_PROGRESS');
      }
      assert.equal(t.fake.requests.filter((r) => r.body?.action === 'connect' && r.body?.to === to).length, 1);
    });

    test('a failure that says "retry" (502) is not stored: the same key runs again', async () => {
      const to = permitted();
      t.fake.inject({ action: 'connect', status: 503, error: { code: 2 } });
      const failed = await startCall('k-retry', to);
      assert.equal(failed.status, 502);
      const again = await startCall('k-retry', to);
      assert.equal(again.status, 201);
    });

    test('concurrent terminates with one key all answer 200: terminate waits for the first', async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', latencyMs: 200 });
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(`${t.baseUrl}/v1/calls/${call.id}/terminate`, {
            method: 'POST',
            headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': 'k-term' },
          }),
        ),
      );
      assert.deepEqual(
        responses.map((r) => r.status),
        Array(6).fill(200),
      );
      const bodies = await Promise.all(responses.map((r) => r.json()));
      for (const b of bodies) {
        assert.deepEqual(b, { success: true, id: call.id, status: 'COMPLETED' });
      }
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });

    test('same key and body, x-whatsapp-number-id naming another number → 422, not the first number’s answer', async () => {
      const regenerate = (numberId: string) =>
        t.app.inject({
          method: 'POST',
          url: '/v1/api-keys/regenerate',
          headers: { 'x-api-key': t.tenantKey.key, 'idempotency-key': 'k-header', 'x-whatsapp-number-id': numberId },
        });
      // Two numbers of their own: the other tests keep their keys.
      const [one, two] = await Promise.all(
        ['one', 'two'].map(async (name) => {
          const res = await t.app.inject({
            method: 'POST',
            url: '/v1/numbers',
            headers: { 'x-api-key': t.tenantKey.key },
            payload: { name, provider: 'SANDBOX' },
          });
          assert.equal(res.statusCode, 201, res.body);
          return res.json().number.id as string;
        }),
      );
      const first = await regenerate(one as string);
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().numberId, one);
      const other = await regenerate(two as string);
      assert.equal(other.statusCode, 422, other.body);
      assert.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal((await regenerate(one as string)).headers['idempotent-replayed'], 'true');
    });

    test('a key longer than 255 characters → 400', async () => {
      const res = await startCall('x'.repeat(256), permitted());
      assert.equal(res.status, 400);
    });
  });
}

describe('Idempotency-Key: a terminate waiting on its key outwaits the first one', () => {
  test('the first terminate waits out an action another process left on the call; the same-key one waits as long and shares its answer', async () => {
    // PROVIDER_TIMEOUT_MS 300: the action lease is 10.9 s, longer than the wait once allowed (2 × 300 ms + 5 s).
    const t = await buildTestApp('sqlite', { env: { PROVIDER_TIMEOUT_MS: '300' } });
    try {
      const call = await callIn(t, 'ACCEPTED');
      const startedAt = new Date().toISOString();
      assert.ok(
        await claimCallAction(t.store.db, call.id, { id: 'act_elsewhere', kind: 'accept', startedAt }, startedAt),
      );
      const terminate = () =>
        fetch(`${t.baseUrl}/v1/calls/${call.id}/terminate`, {
          method: 'POST',
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': 'k-long' },
        });
      const first = terminate();
      await new Promise((r) => setTimeout(r, 200));
      const responses = await Promise.all([first, terminate()]);
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200],
      );
      assert.equal(responses[1]?.headers.get('idempotent-replayed'), 'true');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
    } finally {
      await t.close();
    }
  });
});
