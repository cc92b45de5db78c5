// A pre-accept leaves its answer on the ringing call (Meta takes one pre_accept per call, and the accept must send
// that same answer). A pre-accept or accept that read the call before another pre-accept stored its answer, and
// claims the slot after, must use the stored answer, not act as if there were none.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { aroundNextClaim, type ClaimHook } from '../../../../test/helpers/claim-hook.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`a call pre-accepted between an action's read and its claim [${kind}]`, () => {
    let t: TestApp;
    const hook: { next: ClaimHook } = { next: null };
    before(async () => {
      t = await buildTestApp(kind, {
        env: { PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: (inner) => aroundNextClaim(inner, hook),
      });
    });
    after(() => t.close());

    const act = (callId: string, action: string, sdp: string | null) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/calls/${callId}/${action}`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: sdp === null ? {} : { sdp },
      });
    /** Before the next claim (pre-accept and accept both claim as 'accept'), a pre-accept with `sdp` is answered. */
    const preAcceptFirst = (callId: string) => {
      hook.next = {
        kind: 'accept',
        run: async () => {
          const res = await act(callId, 'pre-accept', CANNED_ANSWER_SDP);
          assert.equal(res.statusCode, 200, res.body);
        },
      };
    };
    const sent = (externalCallId: string) =>
      t.fake.requests
        .filter((r) => r.body?.call_id === externalCallId && r.body?.action !== undefined)
        .map((r) => r.body.action);

    test('the same pre-accept again (a retry racing its original): 200 RINGING, one pre_accept at Meta', async () => {
      const call = await ringingCall(t);
      preAcceptFirst(call.id);
      const res = await act(call.id, 'pre-accept', CANNED_ANSWER_SDP);
      assert.equal(hook.next, null, 'the first pre-accept ran before the claim');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'RINGING' });
      assert.deepEqual(sent(call.externalCallId), ['pre_accept']);
      const stored = await storedCall(t, t.numberA, call.id);
      assert.deepEqual(
        [stored?.status, stored?.sdpAnswer, stored?.pendingAction],
        ['RINGING', CANNED_ANSWER_SDP, null],
      );
    });

    test('a pre-accept with another answer: 409, nothing sent, the first answer kept', async () => {
      const call = await ringingCall(t);
      preAcceptFirst(call.id);
      const other = CANNED_ANSWER_SDP.replace('o=', 'o=other');
      const res = await act(call.id, 'pre-accept', other);
      assert.equal(hook.next, null);
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.deepEqual(sent(call.externalCallId), ['pre_accept']);
      const stored = await storedCall(t, t.numberA, call.id);
      assert.deepEqual([stored?.sdpAnswer, stored?.pendingAction], [CANNED_ANSWER_SDP, null]);
    });

    test('an accept without an SDP sends the pre-accepted answer: 200 ACCEPTED', async () => {
      const call = await ringingCall(t);
      preAcceptFirst(call.id);
      const res = await act(call.id, 'accept', null);
      assert.equal(hook.next, null);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'ACCEPTED' });
      assert.deepEqual(sent(call.externalCallId), ['pre_accept', 'accept']);
      const accept = t.fake.requests.find(
        (r) => r.body?.call_id === call.externalCallId && r.body?.action === 'accept',
      );
      assert.equal(accept?.body.session.sdp, CANNED_ANSWER_SDP);
      assert.equal(t.fake.callState(call.externalCallId), 'ACTIVE');
    });
  });
}
