// Terminate when the store refuses the outcome after the provider hung up (disk full): the call still ends BUSINESS,
// once the store takes writes again, and the provider is never asked twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, outbox, storedCall } from '../../../../test/helpers/calls.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { actionLeaseMs } from '../../../calls/action-slots.ts';
import type { Clock } from '../../../clock.ts';

/** The action lease of the test app (PROVIDER_TIMEOUT_MS 400). */
const LEASE_MS = actionLeaseMs(400);

/** The real time, moved forward by hand: the action lease passes without sleeping through it. */
function shiftedClock() {
  let offset = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  return { clock, advance: (ms: number) => (offset += ms) };
}

/** The response, or null when it takes longer than ms. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  const first = await Promise.race([promise, late]);
  clearTimeout(timer);
  return first;
}

for (const kind of storeKinds()) {
  describe(`terminate while the store refuses writes [${kind}]`, () => {
    let t: TestApp;
    let db: FaultyDb;
    const time = shiftedClock();
    before(async () => {
      t = await buildTestApp(kind, {
        clock: time.clock,
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

      // Another hang-up meanwhile answers 503 at once rather than after the lease: its outcome is already known.
      const concurrent = await within(terminate(call.id), LEASE_MS / 2);
      assert.equal(concurrent?.statusCode, 503, 'answered 503 well before the lease is over');

      // Past the action's lease the store is still full: a retry neither reaches the provider again (it would answer
      // "already ended" and credit the PEER) nor answers 200 early.
      time.advance(LEASE_MS + 1_000);
      const during = await terminate(call.id);
      assert.equal(during.statusCode, 503);
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'ACCEPTED');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);

      const restoredAt = time.clock.now().toISOString();
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

  describe(`an outcome still unsettled when the app closes [${kind}]`, () => {
    test('is no longer retried against the closed store', async () => {
      let db: FaultyDb | undefined;
      const t = await buildTestApp(kind, {
        wrapDb: (inner) => {
          db = faultyDb(inner);
          return db;
        },
      });
      const call = await callIn(t, 'ACCEPTED');
      assert.ok(db);
      db.failWrites = true;
      const first = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.equal(first.statusCode, 503);
      await t.close();
      const tried = db.failedWrites;
      // Retries start 200 ms apart and double: two would have come within a second.
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(db.failedWrites, tried, 'no settle was tried after close');
    });
  });
}
