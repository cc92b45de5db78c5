// Between its claim and its provider request an action reads the call again, or its number. When the store refuses
// that read nothing was asked of the provider: the slot is given back at once, not held for its whole lease (40 s by
// default), which the next request on the call, or the sweeper, would have had to wait out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { acceptedCall, ringingCall, storedCall } from '../../test/helpers/calls.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import type { Call } from '../model/call.ts';
import { readActionSlot } from '../store/calls.ts';
import { type Db, StoreUnavailableError } from '../store/db.ts';

/** The store, refusing the first read made after the next claim of `hook.kind` (as a database that just went away). */
function failReadAfterClaim(inner: Db, hook: { kind: string | null; failed: number }): Db {
  let failNext = false;
  return {
    dialect: inner.dialect,
    query(sql, params) {
      if (failNext) {
        failNext = false;
        hook.failed++;
        return Promise.reject(new StoreUnavailableError('connection lost'));
      }
      return inner.query(sql, params);
    },
    async execute(sql, params, opts) {
      const changed = await inner.execute(sql, params, opts);
      if (hook.kind !== null && sql.includes('SET action_id = $2') && params?.[2] === hook.kind && changed === 1) {
        hook.kind = null;
        failNext = true;
      }
      return changed;
    },
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
}

for (const kind of storeKinds()) {
  describe(`a read refused right after a claim gives the slot back [${kind}]`, () => {
    let t: TestApp;
    const hook: { kind: string | null; failed: number } = { kind: null, failed: 0 };
    before(async () => {
      t = await buildTestApp(kind, { wrapDb: (inner) => failReadAfterClaim(inner, hook) });
    });
    after(() => t.close());

    const act = (call: Call, action: string) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/${action}`,
        headers: { 'x-api-key': t.numberA.key.key },
        ...(action === 'accept' ? { payload: { sdp: CANNED_ANSWER_SDP } } : {}),
      });

    async function assertFreed(call: Call) {
      const slot = await readActionSlot(t.store.db, call.id);
      assert.equal(slot?.actionId, null, 'the slot is free');
      assert.equal(slot?.actionError, null, 'with no outcome: nothing was asked of the provider');
      assert.equal(t.fake.countRequests({ call_id: call.externalCallId }), 0, 'Meta was asked nothing');
    }

    for (const [action, claimed, after] of [
      ['terminate', 'terminate', 'COMPLETED'],
      ['reject', 'reject', 'REJECTED'],
      ['accept', 'accept', 'ACCEPTED'],
    ] as const) {
      test(`${action}: a 503, the slot free at once; the retry goes through`, async () => {
        const call = await ringingCall(t);
        hook.failed = 0;
        hook.kind = claimed;
        const res = await act(call, action);
        assert.equal(hook.failed, 1, 'the read after the claim was refused');
        assert.equal(res.statusCode, 503, res.body);
        await assertFreed(call);
        const again = await act(call, action);
        assert.equal(again.statusCode, 200, again.body);
        assert.equal((await storedCall(t, t.numberA, call.id))?.status, after);
      });
    }

    test('the sweeper ending a call at its maximum duration: the sweep fails, the slot is free at once', async () => {
      const call = await acceptedCall(t);
      await t.store.db.execute('UPDATE calls SET max_duration_seconds = 1, connected_at = $2 WHERE id = $1', [
        call.id,
        new Date(Date.now() - 60_000).toISOString(),
      ]);
      const before = t.fake.countRequests({ call_id: call.externalCallId });
      hook.failed = 0;
      hook.kind = 'system-end';
      await assert.rejects(t.sweeper.sweepOnce(), StoreUnavailableError);
      assert.equal(hook.failed, 1);
      const slot = await readActionSlot(t.store.db, call.id);
      assert.equal(slot?.actionId, null, 'the slot is free');
      assert.equal(t.fake.countRequests({ call_id: call.externalCallId }), before, 'Meta was asked nothing');
      assert.equal((await t.sweeper.sweepOnce()).maxDurations, 1, 'the next sweep ends it');
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'COMPLETED');
    });
  });
}
