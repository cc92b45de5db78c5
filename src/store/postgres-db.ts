import pg from 'pg';
import type { Db, SqlValue } from './db.ts';
import { asStoreUnavailable } from './unavailable.ts';

// Timestamps come back as the same ISO strings SQLite stores, so rows look alike on both engines.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 1184 || oid === 1114) {
      return (value: string) => new Date(value).toISOString();
    }
    return pg.types.getTypeParser(oid, format);
  },
};

// Disk full, I/O errors, read-only, lost connections... become StoreUnavailableError (store/unavailable.ts).
const translate = asStoreUnavailable;

type Queryable = pg.Pool | pg.PoolClient;

function makeDb(client: Queryable, pool: pg.Pool): Db {
  return {
    dialect: 'postgres',
    async query<T>(sql: string, params: readonly SqlValue[] = []) {
      try {
        return (await client.query(sql, params as SqlValue[])).rows as T[];
      } catch (e) {
        throw translate(e);
      }
    },
    async execute(sql: string, params: readonly SqlValue[] = []) {
      try {
        return (await client.query(sql, params as SqlValue[])).rowCount ?? 0;
      } catch (e) {
        throw translate(e);
      }
    },
    transaction: (fn) => (client === pool ? transaction(pool, fn) : fn(makeDb(client, pool))),
    close: async () => {
      if (client === pool) {
        await pool.end();
      }
    },
  };
}

async function transaction<T>(pool: pg.Pool, fn: (tx: Db) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw translate(e);
  }
  try {
    await client.query('BEGIN');
    const result = await fn(makeDb(client, pool));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw translate(error);
  } finally {
    client.release();
  }
}

const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects once and disconnects: what opening the store checks first, so that a server it cannot reach or log in to
 * is reported as such. A client of its own, because a pool forgets a client whose login failed without closing its
 * socket (pg's SASL check for a URL without a password), which then keeps a CLI command alive after its error.
 */
export async function checkPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function openPostgres(url: string, max = 10): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return makeDb(pool, pool);
}
