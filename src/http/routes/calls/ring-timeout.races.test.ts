// The sweeper reads a call that rang too long, then takes its action slot to hang it up: the peer may answer in
// between. A hook answers the call just before the sweeper's claim; the answered call must be left up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, untilStatus } from '../../../../test/helpers/calls.ts';
import { aroundNextClaim, type ClaimHook } from '../../../../test/helpers/claim-hook.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`ring timeout of an outbound call the peer answers meanwhile [${kind}]`, () => {
    let t: TestApp;
    const clock = new ManualClock(Date.now());
    const hook: { next: ClaimHook } = { next: null };
    before(async () => {
      t = await buildTestApp(kind, {
        clock,
        env: { RING_TIMEOUT_SECONDS: '60', PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: (inner) => aroundNextClaim(inner, hook),
      });
    });
    after(() => t.close());

    test('answered between the sweep reading it and claiming it: not hung up, stays ACCEPTED', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: `+${peer}`, sdp: CANNED_OFFER_SDP },
      });
      assert.equal(res.statusCode, 201, res.body);
      const { id, externalCallId } = res.json();
      await untilStatus(t, t.numberA, id, 'RINGING');
      clock.advance(61_000);
      hook.next = {
        kind: 'system-end',
        run: async () => {
          await t.fake.userAnswers(externalCallId);
          await untilStatus(t, t.numberA, id, 'ACCEPTED');
        },
      };
      const swept = await t.sweeper.sweepOnce();
      assert.equal(hook.next, null, 'the answer landed before the claim');
      assert.equal(swept.ringTimeouts, 0);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: externalCallId }), 0);
      assert.equal(t.fake.callState(externalCallId), 'ACTIVE', 'the peer is still on the call');
      await t.fake.flush();
      const stored = await untilStatus(t, t.numberA, id, 'ACCEPTED');
      assert.equal(stored.pendingAction, null);
      assert.deepEqual(
        (await outbox(t, stored)).map((e) => e.type),
        ['call.ringing', 'call.connected'],
      );
    });
  });
}
