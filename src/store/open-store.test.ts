// The embedded store on disk: a new data directory and every file in it are readable by the service's user only.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestStore, storeKinds, TEST_SECRET_KEY } from '../../test/helpers/stores.ts';
import { storeConfig } from '../cli/store.ts';
import { loadConfig } from '../config.ts';
import { openStore } from './open-store.ts';

test('a new embedded store is owner-only: directory 0700; database, WAL, shared memory and key 0600', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'callgate-store-'));
  const dataDir = join(parent, 'data');
  try {
    const { db } = await openStore(loadConfig({ DATA_DIR: dataDir }));
    try {
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      for (const name of ['callgate.db', 'callgate.db-wal', 'callgate.db-shm', 'secret.key']) {
        assert.equal((statSync(join(dataDir, name)).mode & 0o777).toString(8), '600', name);
      }
    } finally {
      await db.close();
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('deleting an event finds its deliveries by index (a number delete cascades through them)', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'callgate-store-'));
  try {
    const { db } = await openStore(loadConfig({ DATA_DIR: join(parent, 'data') }));
    try {
      const plan = await db.query<{ detail: string }>(
        'EXPLAIN QUERY PLAN SELECT webhook_id FROM deliveries WHERE event_id = $1',
        ['evt_x'],
      );
      assert.ok(
        plan.some((row) => /USING (COVERING )?INDEX deliveries_event/.test(row.detail)),
        plan.map((row) => row.detail).join(' | '),
      );
    } finally {
      await db.close();
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('the CLI makes a missing data directory owner-only too, as the server would', () => {
  const parent = mkdtempSync(join(tmpdir(), 'callgate-store-'));
  const dataDir = join(parent, 'made-by-cli');
  try {
    const notes: string[] = [];
    storeConfig({}, dataDir, (line) => notes.push(line));
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.match(notes.join('\n'), /created/);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('the open that generates secret.key says where (once); a SECRET_KEY or an existing file generates nothing', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'callgate-store-'));
  const dataDir = join(parent, 'data');
  try {
    const first = await openStore(loadConfig({ DATA_DIR: dataDir }));
    await first.db.close();
    assert.equal(first.generatedSecretKey, join(dataDir, 'secret.key'));
    const again = await openStore(loadConfig({ DATA_DIR: dataDir }));
    await again.db.close();
    assert.equal(again.generatedSecretKey, null);
    assert.equal(again.secretKey, first.secretKey);

    const given = join(parent, 'given');
    const withKey = await openStore(loadConfig({ DATA_DIR: given, SECRET_KEY: TEST_SECRET_KEY }));
    await withKey.db.close();
    assert.equal(withKey.generatedSecretKey, null);
    assert.equal(existsSync(join(given, 'secret.key')), false);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

for (const kind of storeKinds()) {
  test(`${kind}: a store opened with SECRET_KEY (required on PostgreSQL) generates no secret key`, async () => {
    const store = await createTestStore(kind);
    try {
      const opened = await openStore(loadConfig(store.env));
      await opened.db.close();
      assert.equal(opened.generatedSecretKey, null);
    } finally {
      await store.dispose();
    }
  });
}
