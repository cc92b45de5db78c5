// call.recording_ready is placed for delivery among its call's events by the call it reads (calls/outbox.ts): what
// it reads must be the call as it is when the event commits, or a recording told after call.ended goes before it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { acceptedCall } from '../../test/helpers/calls.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { systemClock } from '../clock.ts';
import type { NumberId } from '../ids.ts';
import type { Db } from '../store/db.ts';
import { Recordings } from './recordings.ts';

for (const kind of storeKinds()) {
  describe(`call.recording_ready's place among the call's events (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    });
    after(() => t.close());

    test('a recording finished while the call is being ended goes after the call.ended committed before it', async () => {
      const headers = { 'x-api-key': t.numberA.key.key };
      const hook = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers,
        payload: { url: 'http://127.0.0.1:9/hook', events: ['call.ended', 'call.recording_ready'] },
      });
      assert.equal(hook.statusCode, 201, hook.body);
      const call = await acceptedCall(t);
      // The recording's transaction is held just after it has read the call (still ACCEPTED).
      let reached = () => {};
      const readCall = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const recordings = new Recordings({
        db: holdAfterCallRead(t.store.db, reached, released),
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        recordingsDir: '/nonexistent',
      });
      const finishing = recordings.finished({
        callId: call.id,
        numberId: t.numberA.id as NumberId,
        status: 'ready',
        durationSeconds: 1,
        sizeBytes: 100,
        path: null,
      });
      await readCall;
      let endAnswered = false;
      const ending = t.app.inject({ method: 'POST', url: `/v1/calls/${call.id}/terminate`, headers }).finally(() => {
        endAnswered = true;
      });
      // The end either commits meanwhile, or waits for the recording's transaction (its lock on the call).
      await eventually(
        async () =>
          endAnswered ||
          (kind === 'postgres' &&
            Number(
              (
                await t.store.db.query<{ n: string }>(
                  `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
                )
              )[0]?.n,
            ) > 0) ||
          kind === 'sqlite',
        10_000,
        'the end to commit or to wait',
      );
      const endedFirst = endAnswered;
      release();
      await finishing;
      assert.equal((await ending).statusCode, 200);
      const order = await t.store.db.query<{ event_type: string; sequence: number | string }>(
        'SELECT event_type, sequence FROM deliveries WHERE call_id = $1 ORDER BY sequence',
        [call.id],
      );
      const seq = (type: string) => Number(order.find((d) => d.event_type === type)?.sequence);
      if (endedFirst) {
        assert.ok(seq('call.recording_ready') > seq('call.ended'), JSON.stringify(order));
      } else {
        assert.ok(seq('call.recording_ready') < seq('call.ended'), JSON.stringify(order));
      }
    });
  });
}

/** The store, with the next transaction held (once) just after its first read of the calls table. */
function holdAfterCallRead(inner: Db, reached: () => void, released: Promise<void>): Db {
  let held = false;
  const holding = (tx: Db): Db => ({
    dialect: tx.dialect,
    async query(sql, params) {
      const rows = await tx.query(sql, params);
      if (!held && /FROM calls\b/.test(sql) && !/FOR UPDATE/.test(sql)) {
        held = true;
        reached();
        await released;
      }
      return rows as never;
    },
    execute: (sql, params, opts) => tx.execute(sql, params, opts),
    transaction: (fn) => tx.transaction(fn),
    close: () => tx.close(),
  });
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params, opts) => inner.execute(sql, params, opts),
    transaction: (fn) => inner.transaction((tx) => fn(holding(tx))),
    close: () => inner.close(),
  };
}
