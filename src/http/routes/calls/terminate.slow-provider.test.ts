// A provider that hangs or answers late: the whole hang-up is bounded by one PROVIDER_TIMEOUT_MS deadline (no second
// request into a hung API), and a provider that did hang up after we stopped waiting gets the end credited to the
// BUSINESS, whether its own end event or the client's retry ("already ended") tells us first.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, storedCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`terminate against a slow provider [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const terminate = (id: string) =>
      t.app.inject({ method: 'POST', url: `/v1/calls/${id}/terminate`, headers: { 'x-api-key': t.numberA.key.key } });

    test('a hung provider gets one request within the deadline, not a second one after it: 502', async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', hang: true, times: 2 });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 502);
      assert.equal(res.json().code, 'PROVIDER_UNAVAILABLE');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      t.fake.clearInjections();
    });

    test('the provider hung up after we stopped waiting: its end event is credited to the BUSINESS', async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', latencyMs: 700, times: 1 });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 502);
      const ended = await eventually(async () => {
        const c = await storedCall(t, t.numberA, call.id);
        return c?.status === 'COMPLETED' ? c : null;
      }, 5_000);
      assert.equal(ended.endedBy, 'BUSINESS');
    });

    test('the provider hung up late and the retry hears "already ended": still BUSINESS', async () => {
      const call = await callIn(t, 'ACCEPTED');
      // Meta's own end event is held back: the client's retry is what tells us.
      t.fake.setEmitDefaults({ hold: true });
      t.fake.inject({ action: 'terminate', latencyMs: 700, times: 1 });
      try {
        assert.equal((await terminate(call.id)).statusCode, 502);
        await eventually(async () => t.fake.callState(call.externalCallId) === 'ENDED', 3_000);
        const retried = await terminate(call.id);
        assert.equal(retried.statusCode, 200);
        const ended = await storedCall(t, t.numberA, call.id);
        assert.equal(ended?.status, 'COMPLETED');
        assert.equal(ended?.endedBy, 'BUSINESS');
      } finally {
        t.fake.setEmitDefaults({});
        await t.fake.releaseHeld();
      }
    });
  });
}
