import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { missing } from '../../test/helpers/requirements.ts';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import { openMediaChannel } from './media-channel.ts';

describe('media channel (PostgreSQL)', { skip: missing('postgres') }, () => {
  let store: TestStore;
  before(async () => {
    store = await createTestStore('postgres');
  });
  after(() => store.dispose());

  test('listens again after its connection is lost (a PostgreSQL restart)', async () => {
    const url = store.env.DATABASE_URL as string;
    const heard: unknown[] = [];
    const channel = await openMediaChannel(
      url,
      store.db,
      (m) => heard.push(m),
      () => undefined,
    );
    try {
      await channel.notify({ n: 1 });
      await until(() => heard.length === 1);

      // What a restart does to the listener: its backend goes away.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const killed = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
        );
        assert.equal(killed.rowCount, 1);
      } finally {
        await admin.end();
      }

      // Notifications sent while nobody listens are gone: keep sending until one is heard.
      await until(async () => {
        await channel.notify({ n: 2 });
        return heard.some((m) => (m as { n: number }).n === 2);
      }, 8000);
    } finally {
      await channel.close();
    }
  });
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      assert.fail('not heard in time');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
