// accept/reject racing the caller's hang-up: the call ends between the request reading it and taking its action
// slot (the 409 must say what the call is now, not that another action holds it while it still rings), or while
// the reject is at Meta (the answer must be the outcome recorded).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { acceptConnectedUnanswered, outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import type { Db } from '../../../store/db.ts';

/** Runs `before` once, ahead of the next action-slot claim (the store's atomic UPDATE of `action_id`). */
function beforeNextClaim(inner: Db, hook: { run: (() => Promise<void>) | null }): Db {
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    async execute(sql, params, opts) {
      const run = hook.run;
      if (run && sql.includes('SET action_id = $2')) {
        hook.run = null;
        await run();
      }
      return inner.execute(sql, params, opts);
    },
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
}

for (const kind of storeKinds()) {
  describe(`accept and reject as the caller hangs up [${kind}]`, () => {
    let t: TestApp;
    const hook: { run: (() => Promise<void>) | null } = { run: null };
    before(async () => {
      // PROVIDER_TIMEOUT_MS: the slow reject injected below (400 ms) must come inside the provider's deadline.
      t = await buildTestApp(kind, {
        env: { PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: (inner) => beforeNextClaim(inner, hook),
      });
    });
    after(() => t.close());

    for (const action of ['accept', 'reject'] as const) {
      test(`${action}: the call ended just before the claim → 409 with its status MISSED, nothing sent`, async () => {
        const call = await ringingCall(t);
        hook.run = () => t.fake.userHangsUp(call.externalCallId);
        const res = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/${action}`,
          headers: { 'x-api-key': t.numberA.key.key },
          ...(action === 'accept' ? { payload: { sdp: CANNED_ANSWER_SDP } } : {}),
        });
        assert.equal(hook.run, null, 'the hang-up landed before the claim');
        assert.equal(res.statusCode, 409, res.body);
        assert.deepEqual(
          { code: res.json().code, error: res.json().error, details: res.json().details },
          {
            code: 'CALL_STATE_CONFLICT',
            error: 'The call is not in a state that allows this action',
            details: { status: 'MISSED' },
          },
        );
        assert.equal(t.fake.countRequests({ action, call_id: call.externalCallId }), 0);
      });
    }

    test('reject: the hang-up lands while Meta holds the reject, which it then refuses → 200 REJECTED, as recorded', async () => {
      const call = await ringingCall(t);
      t.fake.inject({ action: 'reject', times: 1, latencyMs: 400 });
      const rejecting = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/reject`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      await eventually(async () => t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }) === 1);
      // The caller hangs up first: its end is our reject's (R7), and Meta then answers the reject "already ended".
      await t.fake.userHangsUp(call.externalCallId);
      const res = await rejecting;
      const stored = await storedCall(t, t.numberA, call.id);
      assert.deepEqual([stored?.status, stored?.endedBy], ['REJECTED', 'BUSINESS']);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'REJECTED' });
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });

    test('an accept Meta carried out without answering in time, then the caller hangs up → connected, then ended', async () => {
      const call = await ringingCall(t);
      await acceptConnectedUnanswered(t, call, 2500);
      // Ours still has it ringing: Meta's end is the first news that it connected.
      await t.fake.userHangsUp(call.externalCallId);
      await t.fake.flush();
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.status, 'COMPLETED');
      const events = await outbox(t, call);
      assert.deepEqual(
        events.map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      // Told as it was when it connected, as every call.connected is; the end carries the duration.
      const connected = events[1]?.payload as { status: string; endedAt: unknown; durationSeconds: unknown };
      assert.deepEqual([connected.status, connected.endedAt, connected.durationSeconds], ['ACCEPTED', null, null]);
      const ended = events[2]?.payload as { status: string; connectedAt: unknown };
      assert.equal(ended.status, 'COMPLETED');
      assert.equal(ended.connectedAt, stored?.connectedAt);
    });
  });
}
