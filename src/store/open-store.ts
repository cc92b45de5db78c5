import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { SqliteDb } from './sqlite-db.ts';

export interface OpenedStore {
  db: Db;
  secretKey: string;
}

/** PostgreSQL when DATABASE_URL is set, otherwise the embedded SQLite file under DATA_DIR. */
export async function openStore(config: Config, opts: { migrate?: boolean } = {}): Promise<OpenedStore> {
  let db: Db;
  let secretKey = config.secretKey;
  if (config.databaseUrl) {
    // pg loads only when DATABASE_URL is set: the embedded store never pays its start-up time and memory.
    const { openPostgres } = await import('./postgres-db.ts');
    db = openPostgres(config.databaseUrl);
  } else {
    // Owner-only, as secret.key and the recordings are: the store holds callers' numbers, SDPs and payloads.
    // SQLite gives its -wal and -shm files the database file's permissions.
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const path = join(config.dataDir, 'callgate.db');
    closeSync(openSync(path, 'a', 0o600)); // the mode applies only when the file is created here
    db = new SqliteDb(path, { synchronous: config.sqliteSynchronous });
    secretKey ??= localSecretKey(config.dataDir);
  }
  if (opts.migrate !== false) {
    await migrate(db);
  }
  return { db, secretKey: secretKey as string };
}

// Embedded mode generates its encryption key once and keeps it beside the database.
function localSecretKey(dataDir: string): string {
  const path = join(dataDir, 'secret.key');
  if (!existsSync(path)) {
    try {
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
  }
  return readFileSync(path, 'utf8').trim();
}
