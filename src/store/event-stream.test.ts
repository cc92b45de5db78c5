import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { missing } from '../../test/helpers/requirements.ts';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import { latestCursor, readEventsAfter } from './event-stream.ts';

describe('event stream cursor (PostgreSQL)', { skip: missing('postgres') }, () => {
  let store: TestStore;
  before(async () => {
    store = await createTestStore('postgres');
  });
  after(() => store.dispose());

  test('a stream started while an older transaction is still writing gets that transaction’s events', async () => {
    const url = store.env.DATABASE_URL as string;
    const [slow, quick] = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
    await Promise.all([slow.connect(), quick.connect()]);
    const insert = (c: pg.Client, id: string) =>
      c.query(
        `INSERT INTO events (id, tenant_id, number_id, call_id, type, sequence, payload, occurred_at, created_at)
         VALUES ($1, 't1', 'n1', NULL, 'call.ringing', NULL, '{}', now(), now())`,
        [id],
      );
    try {
      // Another process's transaction takes its id first and commits last.
      await slow.query('BEGIN');
      await insert(slow, 'ev_slow');
      await insert(quick, 'ev_quick');
      const cursor = await latestCursor(store.db, { numberId: 'n1' });
      await slow.query('COMMIT');

      const read = await readEventsAfter(store.db, { numberId: 'n1' }, cursor, 10);
      const rows = await store.db.query<{ id: string; txid: string; seq: string }>(
        'SELECT id, txid::text AS txid, seq::text AS seq FROM events',
      );
      const slowRow = rows.find((r) => r.id === 'ev_slow');
      assert.ok(
        read.some((e) => e.cursor === `${slowRow?.txid}-${slowRow?.seq}`),
        'ev_slow is not skipped',
      );
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      await Promise.all([slow.end(), quick.end()]);
    }
  });
});
