// A terminate whose call another party ended while Meta held the hang-up: the peer declined the outbound call (Meta's
// REJECTED status, which no hang-up of ours explains). The answer is calls-api.md §4.4's for a call that ended
// before this request could end it: 200 with the call's status and alreadyEnded, never a bare REJECTED.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, storedCall, untilStatus } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`a terminate whose call the peer declined meanwhile [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      // Meta holds the hang-up 1.5 s, inside the provider's deadline, while the peer declines.
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '5000' } });
    });
    after(() => t.close());

    test('200 REJECTED with alreadyEnded, one call.ended, by the PEER', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const started = await t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: `+${peer}`, sdp: CANNED_OFFER_SDP },
      });
      assert.equal(started.statusCode, 201, started.body);
      const { id, externalCallId } = started.json();
      await untilStatus(t, t.numberA, id, 'RINGING');
      t.fake.inject({ action: 'terminate', latencyMs: 1500 });
      const terminating = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      await eventually(async () => t.fake.countRequests({ action: 'terminate', call_id: externalCallId }) === 1);
      await t.fake.userDeclines(externalCallId);
      await untilStatus(t, t.numberA, id, 'REJECTED');
      const res = await terminating;
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id, status: 'REJECTED', alreadyEnded: true });
      await t.fake.flush();
      const stored = await storedCall(t, t.numberA, id);
      assert.deepEqual([stored?.status, stored?.endedBy, stored?.pendingAction], ['REJECTED', 'PEER', null]);
      assert.equal((await outbox(t, stored!)).filter((e) => e.type === 'call.ended').length, 1);
    });
  });
}
