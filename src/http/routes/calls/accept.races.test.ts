// accept/reject racing the caller's hang-up: the call ends between the request reading it and taking its action
// slot. The 409 must say what the call is now, not that another action holds it while it still rings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { ringingCall } from '../../../../test/helpers/calls.ts';
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
      t = await buildTestApp(kind, { wrapDb: (inner) => beforeNextClaim(inner, hook) });
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
  });
}
