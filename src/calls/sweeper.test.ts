// The sweep runs every few seconds in every worker, over tables that keep every call ever stored: each of its
// statements must reach its rows through an index, or a long history stalls the process once per sweep.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { LEVEL, logSink } from '../../test/helpers/log-sink.ts';
import { ManualClock } from '../../test/helpers/manual-clock.ts';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { FAILURE_REMINDER_MS } from '../failure-log.ts';
import { type Db, StoreUnavailableError } from '../store/db.ts';
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
      evolutionDialTimeoutMs: 1_000,
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

test('a store that is down is said once, again each minute while it lasts, and when it is back', async () => {
  let down = true;
  let failed = 0;
  const refuse = <T>(run: () => Promise<T>): Promise<T> => {
    if (down) {
      failed++;
      return Promise.reject(new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432'));
    }
    return run();
  };
  const db: Db = {
    dialect: store.db.dialect,
    query: (sql, params) => refuse(() => store.db.query(sql, params)),
    execute: (sql, params, opts) => refuse(() => store.db.execute(sql, params, opts)),
    transaction: (fn) => refuse(() => store.db.transaction(fn)),
    close: () => store.db.close(),
  };
  const clock = new ManualClock();
  const log = logSink();
  const sweeper = new Sweeper({
    db,
    clock,
    slots: new ActionSlots(db, clock, 1_000),
    providers: () => {
      throw new Error('no call to end: the store is empty');
    },
    config: {
      ringTimeoutSeconds: 60,
      sweepIntervalMs: 10,
      webhookLogRetentionDays: 30,
      webhookRetryScheduleMs: [0],
      providerTimeoutMs: 1_000,
      evolutionDialTimeoutMs: 1_000,
    },
    logger: log.logger,
  });
  sweeper.start();
  try {
    // Every sweep fails; each used to write an error line with its stack.
    await waitFor(
      () => failed,
      (n) => n >= 5,
    );
    assert.ok(failed >= 5);
    const first = log.find(/^sweep failed/);
    assert.equal(first.length, 1, JSON.stringify(log.lines));
    assert.equal(first[0]?.level, LEVEL.warn, 'a store that is down is no bug');
    clock.advance(FAILURE_REMINDER_MS);
    const seen = failed;
    await waitFor(
      () => failed,
      (n) => n >= seen + 5,
    );
    const reminders = log.find(/^sweep failed \(still; \d+ times since the first\)$/);
    assert.equal(reminders.length, 1);
    assert.equal(reminders[0]?.err, 'connect ECONNREFUSED 127.0.0.1:5432');
    down = false;
    const back = await waitFor(
      () => log.find(/^sweep works again$/),
      (lines) => lines.length > 0,
    );
    assert.equal(back.length, 1);
    assert.equal(back[0]?.level, LEVEL.info);
    assert.equal(back[0]?.failingForMs, FAILURE_REMINDER_MS);
    assert.equal(log.find(/^sweep failed/).length, 2);
  } finally {
    await sweeper.stop();
  }
});
