import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logSink } from '../../test/helpers/log-sink.ts';
import { missing } from '../../test/helpers/requirements.ts';
import { createTestStore } from '../../test/helpers/stores.ts';
import { DatabaseClock, storeClock } from './database-clock.ts';
import type { Db } from './db.ts';

describe('the database clock', () => {
  test('on PostgreSQL a host 30 s ahead reads the database’s time, and says its clock is off', {
    skip: missing('postgres'),
  }, async () => {
    const store = await createTestStore('postgres');
    const sink = logSink();
    const clock = await DatabaseClock.start(store.db, { logger: sink.logger, localNow: () => Date.now() + 30_000 });
    try {
      // The database runs on this host: its time is this host's.
      assert.ok(Math.abs(clock.now().getTime() - Date.now()) < 250, `${clock.now().toISOString()} is now`);
      assert.ok(Math.abs(clock.offsetMs + 30_000) < 250, `offset ${clock.offsetMs} ms`);
      await clock.measure();
      const warnings = sink.find(/clock is more than a second off the database’s/);
      assert.equal(warnings.length, 1, 'warned once, not at every measure');
      assert.ok(Math.abs((warnings[0]!.offsetMs as number) + 30_000) < 250);
    } finally {
      clock.stop();
      await store.dispose();
    }
  });

  test('a host in step with the database keeps its own time and says nothing', {
    skip: missing('postgres'),
  }, async () => {
    const store = await createTestStore('postgres');
    const sink = logSink();
    const clock = await DatabaseClock.start(store.db, { logger: sink.logger });
    try {
      assert.ok(Math.abs(clock.offsetMs) < 100, `offset ${clock.offsetMs} ms`);
      assert.deepEqual(sink.find(/clock/), []);
    } finally {
      clock.stop();
      await store.dispose();
    }
  });

  test('a database that did not answer at start is asked again within seconds, not after the minute', async () => {
    let asked = 0;
    const db = {
      dialect: 'postgres',
      query: async () => {
        asked += 1;
        if (asked <= 3) {
          throw new Error('connection refused');
        }
        return [{ ms: Date.now() }];
      },
    } as unknown as Db;
    const sink = logSink();
    const clock = await DatabaseClock.start(db, {
      logger: sink.logger,
      localNow: () => Date.now() + 30_000,
      retryMs: 20,
    });
    try {
      assert.equal(sink.find(/could not read the database clock/).length, 1);
      const deadline = Date.now() + 2000;
      while (Math.abs(clock.offsetMs + 30_000) > 250 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(Math.abs(clock.offsetMs + 30_000) < 250, `offset ${clock.offsetMs} ms`);
    } finally {
      clock.stop();
    }
  });

  test('on SQLite (one host) the process keeps its own clock', async () => {
    const store = await createTestStore('sqlite');
    const sink = logSink();
    const clock = await storeClock(store.db, sink.logger);
    try {
      assert.ok(!(clock instanceof DatabaseClock));
      assert.ok(Math.abs(clock.now().getTime() - Date.now()) < 50);
    } finally {
      clock.stop();
      await store.dispose();
    }
  });
});
