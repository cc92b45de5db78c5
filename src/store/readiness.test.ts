// /readyz's judge: a write probe at most once a second however many probes ask, and "not ready" for a while after a
// request failed on the store, recovering by itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { faultyDb } from '../../test/helpers/faulty-db.ts';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import type { Db } from './db.ts';
import { StoreReadiness } from './readiness.ts';

describe('store readiness', () => {
  let store: TestStore;
  before(async () => {
    store = await createTestStore('sqlite');
  });
  after(() => store.dispose());

  /** The store, counting the heartbeat writes that reach it. */
  function counting(inner: Db) {
    const counter = { writes: 0 };
    const db: Db = {
      ...inner,
      dialect: inner.dialect,
      query: (sql, params) => inner.query(sql, params),
      execute: (sql, params, opts) => {
        counter.writes++;
        return inner.execute(sql, params, opts);
      },
      transaction: (fn) => inner.transaction(fn),
      close: () => inner.close(),
    };
    return { db, counter };
  }

  test('a hundred concurrent probes cost one write; the next second costs one more', async () => {
    let now = 1_000_000;
    const { db, counter } = counting(store.db);
    const readiness = new StoreReadiness(db, () => now);
    const answers = await Promise.all(Array.from({ length: 100 }, () => readiness.isReady()));
    assert.ok(answers.every(Boolean));
    assert.equal(counter.writes, 1);
    now += 500;
    await readiness.isReady();
    assert.equal(counter.writes, 1);
    now += 600;
    await readiness.isReady();
    assert.equal(counter.writes, 2);
    const [row] = await store.db.query<{ beats: number }>('SELECT beats FROM store_heartbeat WHERE id = 1');
    assert.equal(Number(row?.beats), 2);
  });

  test('writes failing → not ready; a request failing on the store holds it 5 s; then ready by itself', async () => {
    let now = 2_000_000;
    const db = faultyDb(store.db);
    const readiness = new StoreReadiness(db, () => now);
    db.failWrites = true;
    assert.equal(await readiness.isReady(), false);
    db.failWrites = false;
    now += 1_000;
    assert.equal(await readiness.isReady(), false, 'the failed probe holds for a few seconds');
    now += 5_000;
    assert.equal(await readiness.isReady(), true);
    readiness.noteFailure('capacity');
    now += 1_000;
    assert.equal(await readiness.isReady(), false, 'a request that failed on the store');
    now += 4_500;
    assert.equal(await readiness.isReady(), true);
  });

  test('a lost database is not ready until a probe after the loss succeeds: no hold once it is back', async () => {
    let now = 3_000_000;
    const readiness = new StoreReadiness(store.db, () => now);
    assert.equal(await readiness.isReady(), true);
    readiness.noteFailure('connection');
    now += 10;
    // The probe of 10 ms ago predates the failure: a new one runs, and the database answers it.
    assert.equal(await readiness.isReady(), true);
  });

  test('a lock or statement timeout of one request does not make the instance unready', async () => {
    let now = 4_000_000;
    const readiness = new StoreReadiness(store.db, () => now);
    readiness.noteFailure('contention');
    now += 10;
    assert.equal(await readiness.isReady(), true);
  });
});
