// The suite runs on the embedded store always, and on PostgreSQL too when TEST_DATABASE_URL is set
// (.ci/run starts one on loopback and sets it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Db, Dialect } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPostgres } from '../../src/store/postgres-db.ts';
import { SqliteDb } from '../../src/store/sqlite-db.ts';
import { missing } from './requirements.ts';

/** The SECRET_KEY of test apps and of the processes started on their stores (the start-up minimum is 32). */
export const TEST_SECRET_KEY = 'test-secret-key-that-is-long-enough';

export function storeKinds(): Dialect[] {
  // Throws when CI demands PostgreSQL and has none (test/helpers/requirements.ts).
  return missing('postgres') ? ['sqlite'] : ['sqlite', 'postgres'];
}

export interface TestStore {
  db: Db;
  kind: Dialect;
  /** Environment a child server process needs to open the same store. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export interface TestStoreOptions {
  /** SQLite: the data directory to use (kept on dispose); a fresh temp directory by default. */
  sqliteDir?: string;
  /** PostgreSQL: the server to create the database on; TEST_DATABASE_URL by default. */
  postgresAdminUrl?: string;
}

/** A fresh, migrated, empty store: a temp SQLite file or a new PostgreSQL database. */
export async function createTestStore(kind: Dialect, opts: TestStoreOptions = {}): Promise<TestStore> {
  if (kind === 'sqlite') {
    const given = opts.sqliteDir;
    const dir = given ?? mkdtempSync(join(tmpdir(), 'callgate-test-'));
    const db = new SqliteDb(join(dir, 'callgate.db'));
    await migrate(db);
    return {
      db,
      kind,
      env: { DATA_DIR: dir, SECRET_KEY: TEST_SECRET_KEY },
      async dispose() {
        await db.close();
        if (!given) {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  const adminUrl = opts.postgresAdminUrl ?? process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    throw new Error('TEST_DATABASE_URL is not set');
  }
  const name = `cg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = openPostgres(url.toString());
  await migrate(db);
  return {
    db,
    kind,
    env: { DATABASE_URL: url.toString(), SECRET_KEY: TEST_SECRET_KEY },
    async dispose() {
      await db.close();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
