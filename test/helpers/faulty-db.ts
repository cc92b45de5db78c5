// A store whose writes can be made to fail as a full disk fails them (SQLITE_FULL), while reads and the action-slot
// claim (a non-durable write) still pass: the window in which a provider acted but its outcome cannot be stored.
import type { Db, ExecuteOptions, SqlValue } from '../../src/store/db.ts';

export interface FaultyDb extends Db {
  failWrites: boolean;
  failedWrites: number;
}

function diskFull(): Error {
  return Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 });
}

export function faultyDb(inner: Db): FaultyDb {
  const db: FaultyDb = {
    dialect: inner.dialect,
    failWrites: false,
    failedWrites: 0,
    query: (sql: string, params?: readonly SqlValue[]) => inner.query(sql, params),
    execute(sql: string, params?: readonly SqlValue[], opts?: ExecuteOptions) {
      if (db.failWrites && opts?.durable !== false) {
        db.failedWrites++;
        return Promise.reject(diskFull());
      }
      return inner.execute(sql, params, opts);
    },
    transaction<T>(fn: (tx: Db) => Promise<T>) {
      if (db.failWrites) {
        db.failedWrites++;
        return Promise.reject(diskFull());
      }
      return inner.transaction(fn);
    },
    close: () => inner.close(),
  };
  return db;
}
