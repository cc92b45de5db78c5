// An action reads the call, then claims its slot: another action may settle in between and change the state the first
// one decided on. Each test runs a whole other action at that point (a hook before the claim's UPDATE) and checks the
// late action acts on the state the call is in when it takes the slot, not the one it read.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { aroundNextClaim, type ClaimHook } from '../../../../test/helpers/claim-hook.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`an action whose call another action changed before its claim [${kind}]`, () => {
    let t: TestApp;
    const hook: { next: ClaimHook } = { next: null };
    before(async () => {
      t = await buildTestApp(kind, {
        env: { PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: (inner) => aroundNextClaim(inner, hook),
      });
    });
    after(() => t.close());

    const act = (callId: string, action: string) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/calls/${callId}/${action}`,
        headers: { 'x-api-key': t.numberA.key.key },
        ...(action === 'accept' || action === 'pre-accept' ? { payload: { sdp: CANNED_ANSWER_SDP } } : {}),
      });

    /** Before `kind`'s claim, an accept of the call is made and answered: the call read ringing is connected now. */
    const acceptFirst = (callId: string, claimKind: string) => {
      hook.next = {
        kind: claimKind,
        run: async () => {
          const res = await act(callId, 'accept');
          assert.equal(res.statusCode, 200, res.body);
        },
      };
    };

    test('terminate read the call ringing, an accept connected it: it hangs up (not a reject) → COMPLETED by BUSINESS', async () => {
      const call = await ringingCall(t);
      acceptFirst(call.id, 'terminate');
      const res = await act(call.id, 'terminate');
      assert.equal(hook.next, null, 'the accept ran before the claim');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }), 0);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      assert.equal(t.fake.callState(call.externalCallId), 'ENDED', 'the call is over at Meta too');
      await t.fake.flush();
      const stored = await storedCall(t, t.numberA, call.id);
      assert.deepEqual([stored?.status, stored?.endedBy, stored?.pendingAction], ['COMPLETED', 'BUSINESS', null]);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.deepEqual(t.fake.violations, []);
    });

    test('terminate whose call the caller hung up just after its claim: 200 COMPLETED by BUSINESS, nothing sent', async () => {
      const call = await callIn(t, 'ACCEPTED');
      hook.next = { kind: 'terminate', after: true, run: () => t.fake.userHangsUp(call.externalCallId) };
      const res = await act(call.id, 'terminate');
      assert.equal(hook.next, null, 'the hang-up landed after the claim');
      assert.equal(res.statusCode, 200, res.body);
      // The end came while the slot was this terminate's: it is this terminate's (calls-api.md §4.6).
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 0);
      const stored = await storedCall(t, t.numberA, call.id);
      assert.deepEqual([stored?.status, stored?.endedBy, stored?.pendingAction], ['COMPLETED', 'BUSINESS', null]);
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });

    for (const late of ['reject', 'accept', 'pre-accept'] as const) {
      test(`${late} read the call ringing, an accept connected it: 409 ACCEPTED, nothing sent, the call stays up`, async () => {
        const call = await ringingCall(t);
        acceptFirst(call.id, late === 'reject' ? 'reject' : 'accept');
        const res = await act(call.id, late);
        assert.equal(hook.next, null, 'the accept ran before the claim');
        assert.equal(res.statusCode, 409, res.body);
        assert.deepEqual([res.json().code, res.json().details], ['CALL_STATE_CONFLICT', { status: 'ACCEPTED' }]);
        const action = late === 'pre-accept' ? 'pre_accept' : late;
        assert.equal(t.fake.countRequests({ action, call_id: call.externalCallId }), late === 'accept' ? 1 : 0);
        assert.equal(t.fake.callState(call.externalCallId), 'ACTIVE');
        await t.fake.flush();
        const stored = await storedCall(t, t.numberA, call.id);
        assert.deepEqual([stored?.status, stored?.pendingAction], ['ACCEPTED', null]);
        assert.deepEqual(
          (await outbox(t, call)).map((e) => e.type),
          ['call.ringing', 'call.connected'],
        );
      });
    }
  });
}
