// The sweeper's ring timeout on an inbound call: recorded MISSED by SYSTEM, and hung up at Meta when an accept of
// unknown outcome may have connected it there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { acceptConnectedUnanswered, callIn, outbox, untilStatus } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`ring timeout of an inbound call [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, {
        env: { RING_TIMEOUT_SECONDS: '2', SWEEP_INTERVAL_MS: '100', PROVIDER_TIMEOUT_MS: '1000' },
        runSweeper: true,
      });
    });
    after(() => t.close());

    test('an unanswered call is MISSED by SYSTEM and nothing is sent to Meta (it ends its own ringing)', async () => {
      const call = await callIn(t, 'RINGING');
      const missed = await untilStatus(t, t.numberA, call.id, 'MISSED', 6000);
      assert.equal(missed.endedBy, 'SYSTEM');
      assert.equal(missed.endReason, 'ring_timeout');
      assert.equal(t.fake.countRequests({ call_id: call.externalCallId }), 0);
    });

    test('after an accept Meta did not answer in time but carried out, the call is hung up at Meta', async () => {
      const call = await callIn(t, 'RINGING');
      await acceptConnectedUnanswered(t, call, 1500);
      const missed = await untilStatus(t, t.numberA, call.id, 'MISSED', 6000);
      assert.equal(missed.endedBy, 'SYSTEM');
      assert.equal(t.fake.callState(call.externalCallId), 'ENDED', 'the user is not left connected to nobody');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      await t.fake.flush();
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });
  });
}
