import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logSink } from '../../test/helpers/log-sink.ts';
import { missing } from '../../test/helpers/requirements.ts';
import { createTestStore } from '../../test/helpers/stores.ts';
import { DatabaseClock, storeClock } from './database-clock.ts';

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
