import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { acceptedCall, outbox } from '../../test/helpers/calls.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { systemClock } from '../clock.ts';
import type { NumberId } from '../ids.ts';
import { KEY_BURST, KEYS_PER_SECOND, KeyBudget, Keypad } from './keypad.ts';

test('a call queues a burst of key events, then as many a second as a person could press', () => {
  let now = 1_000_000;
  const budget = new KeyBudget(() => now);
  const taken = Array.from({ length: KEY_BURST + 5 }, () => budget.take());
  assert.equal(taken.filter(Boolean).length, KEY_BURST, 'the burst, then nothing');
  now += 1000 / KEYS_PER_SECOND;
  assert.equal(budget.take(), true, 'one more after a tenth of a second');
  assert.equal(budget.take(), false);
  now += 60_000; // a quiet minute refills to the burst, not beyond
  assert.equal(Array.from({ length: KEY_BURST + 5 }, () => budget.take()).filter(Boolean).length, KEY_BURST);
});

for (const kind of storeKinds()) {
  describe(`call.dtmf events (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test('a key of a live call is an event; a key heard after the call ended is none (nothing follows call.ended)', async () => {
      const keypad = new Keypad({ db: t.store.db, clock: systemClock });
      const call = await acceptedCall(t);
      const press = (digit: '1' | '2', count: number) =>
        keypad.pressed({
          callId: call.id,
          numberId: t.numberA.id as NumberId,
          digit,
          digits: '12'.slice(0, count),
          count,
        });
      await press('1', 1);
      const ended = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.equal(ended.statusCode, 200, ended.body);
      await press('2', 2);
      const keys = (await outbox(t, call)).filter((e) => e.type === 'call.dtmf').map((e) => e.payload.digit);
      assert.deepEqual(keys, ['1'], 'the key pressed after call.ended is not told');
    });

    test("a call's keys are written in the order pressed, even when the first write is slow", async () => {
      const db = t.store.db;
      let first = true;
      // The first key's transaction starts late, as one waiting for a pool connection may.
      const slowFirst: typeof db = {
        dialect: db.dialect,
        query: (sql, params) => db.query(sql, params),
        execute: (sql, params, opts) => db.execute(sql, params, opts),
        close: () => db.close(),
        transaction: async (fn) => {
          if (first) {
            first = false;
            await new Promise((r) => setTimeout(r, 100));
          }
          return db.transaction(fn);
        },
      };
      const keypad = new Keypad({ db: slowFirst, clock: systemClock });
      const call = await acceptedCall(t);
      await Promise.all(
        (['1', '2', '3'] as const).map((digit, i) =>
          keypad.pressed({
            callId: call.id,
            numberId: t.numberA.id as NumberId,
            digit,
            digits: '123'.slice(0, i + 1),
            count: i + 1,
          }),
        ),
      );
      const keys = (await outbox(t, call)).filter((e) => e.type === 'call.dtmf').map((e) => e.payload.count);
      assert.deepEqual(keys, [1, 2, 3]);
    });
  });
}
