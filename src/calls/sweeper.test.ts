// The sweep runs every few seconds in every worker, over tables that keep every call ever stored: each of its
// statements must reach its rows through an index, or a long history stalls the process once per sweep.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { ManualClock } from '../../test/helpers/manual-clock.ts';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import type { Db } from '../store/db.ts';
import { ActionSlots } from './action-slots.ts';
import { Sweeper } from './sweeper.ts';

let store: TestStore;
before(async () => {
  store = await createTestStore('sqlite');
});
after(async () => {
  await store.dispose();
});

/** Passes everything through to db and keeps the SQL of every statement run. */
function recording(db: Db, seen: Set<string>): Db {
  const wrap = (inner: Db): Db => ({
    dialect: inner.dialect,
    query: (sql, params) => {
      seen.add(sql);
      return inner.query(sql, params);
    },
    execute: (sql, params, opts) => {
      seen.add(sql);
      return inner.execute(sql, params, opts);
    },
    transaction: (fn) => inner.transaction((tx) => fn(wrap(tx))),
    close: () => inner.close(),
  });
  return wrap(db);
}

test('every statement of a sweep uses an index on the embedded store (no full scan of calls or expiring rows)', async () => {
  const seen = new Set<string>();
  const db = recording(store.db, seen);
  const clock = new ManualClock();
  const sweeper = new Sweeper({
    db,
    clock,
    slots: new ActionSlots(db, clock, 1_000),
    providers: () => {
      throw new Error('no call to end: the store is empty');
    },
    config: {
      ringTimeoutSeconds: 60,
      sweepIntervalMs: 1_000,
      webhookLogRetentionDays: 30,
      webhookRetryScheduleMs: [0],
      providerTimeoutMs: 1_000,
    },
    logger: pino({ level: 'silent' }),
  });
  assert.deepEqual(await sweeper.sweepOnce(), { ringTimeouts: 0, maxDurations: 0 });
  assert.ok(seen.size >= 7, `a sweep runs its ring, duration, purge and log statements (saw ${seen.size})`);
  for (const sql of seen) {
    const parameters = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    const plan = (
      await store.db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, Array(parameters).fill(null))
    ).map((row) => row.detail);
    assert.ok(
      !plan.some((step) =>
        /^SCAN (calls|tombstones|parked_events|idempotency_keys|deliveries|delivery_attempts|a|c|d|p)\b/.test(step),
      ),
      `${sql.replace(/\s+/g, ' ')}\n  scans a whole table: ${plan.join(' | ')}`,
    );
  }
});
