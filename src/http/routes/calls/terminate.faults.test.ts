// Terminate when the store refuses the outcome after the provider hung up (disk full): the call still ends BUSINESS,
// once the store takes writes again, and the provider is never asked twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, outbox, storedCall } from '../../../../test/helpers/calls.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`terminate while the store refuses writes [${kind}]`, () => {
    let t: TestApp;
    let db: FaultyDb;
    before(async () => {
      t = await buildTestApp(kind, {
        wrapDb: (inner) => {
          db = faultyDb(inner);
          return db;
        },
      });
    });
    after(() => t.close());

    const terminate = (id: string) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/calls/${id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });

    test('the provider hung up but the outcome could not be stored: 503, then the call ends BUSINESS by itself', async () => {
      const call = await callIn(t, 'ACCEPTED');
      db.failWrites = true;
      const first = await terminate(call.id);
      assert.equal(first.statusCode, 503);
      assert.equal(first.json().code, 'STORE_UNAVAILABLE');
      assert.ok(Number(first.headers['retry-after']) > 0);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);

      // Past the action's lease (2 × PROVIDER_TIMEOUT_MS + 5 s) the store is still full: a retry neither reaches the
      // provider again (it would answer "already ended" and credit the PEER) nor answers 200 early.
      await new Promise((r) => setTimeout(r, 6_000));
      const during = await terminate(call.id);
      assert.equal(during.statusCode, 503);
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'ACCEPTED');

      const restoredAt = new Date().toISOString();
      db.failWrites = false;
      const ended = await eventually(async () => {
        const c = await storedCall(t, t.numberA, call.id);
        return c?.status === 'COMPLETED' ? c : null;
      }, 5_000);
      assert.equal(ended.endedBy, 'BUSINESS');
      assert.ok(ended.endedAt && ended.endedAt < restoredAt, 'it ended when the provider hung up, not when stored');
      assert.deepEqual(
        (await outbox(t, ended)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      const retried = await terminate(call.id);
      assert.equal(retried.statusCode, 200);
      assert.equal(retried.json().status, 'COMPLETED');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
    });
  });
}
