import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect } from 'node:net';
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

  test('opens when PostgreSQL comes back, if it could not be reached at start', async () => {
    // A TCP relay to PostgreSQL that refuses connections until told otherwise.
    const target = new URL(store.env.DATABASE_URL as string);
    let up = false;
    const relay = createServer((socket) => {
      if (!up) {
        socket.destroy();
        return;
      }
      const upstream = tcpConnect(Number(target.port), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const address = relay.address();
    const url = new URL(target);
    url.hostname = '127.0.0.1';
    url.port = String(typeof address === 'object' && address ? address.port : 0);
    const heard: unknown[] = [];
    const channel = await openMediaChannel(
      url.toString(),
      store.db,
      (m) => heard.push(m),
      () => undefined,
    );
    try {
      up = true;
      await until(async () => {
        await channel.notify({ n: 3 });
        return heard.length > 0;
      }, 8000);
    } finally {
      await channel.close();
      relay.close();
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
