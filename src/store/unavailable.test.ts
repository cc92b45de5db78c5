// Which failures mean "the store cannot take writes now" (503, retry later) and which do not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreUnavailableError } from './db.ts';
import { asStoreUnavailable, isStoreUnavailable, storeFailureKind } from './unavailable.ts';

const sqlite = (errcode: number, message = 'sqlite') =>
  Object.assign(new Error(message), { code: 'ERR_SQLITE_ERROR', errcode });
const pg = (code: string) => Object.assign(new Error(`pg ${code}`), { code, severity: 'ERROR' });
const sys = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('store failure classification', () => {
  const unavailable: [string, unknown][] = [
    ['SQLITE_FULL', sqlite(13, 'database or disk is full')],
    ['SQLITE_IOERR_WRITE (extended)', sqlite(10 | (3 << 8))],
    ['SQLITE_READONLY', sqlite(8)],
    ['SQLITE_BUSY past busy_timeout', sqlite(5)],
    ['PostgreSQL 53100 disk_full', pg('53100')],
    ['PostgreSQL 58030 io_error', pg('58030')],
    ['PostgreSQL 25006 read_only_sql_transaction', pg('25006')],
    ['PostgreSQL 57P01 admin_shutdown', pg('57P01')],
    ['PostgreSQL 57P03 cannot_connect_now', pg('57P03')],
    ['PostgreSQL 08006 connection_failure', pg('08006')],
    ['our StoreUnavailableError', new StoreUnavailableError('x')],
  ];
  for (const [name, error] of unavailable) {
    test(`${name} → unavailable`, () => {
      assert.equal(isStoreUnavailable(error), true);
      assert.ok(asStoreUnavailable(error) instanceof StoreUnavailableError);
    });
  }

  const notUnavailable: [string, unknown][] = [
    ['SQLITE_CONSTRAINT (a unique key)', sqlite(19, 'UNIQUE constraint failed')],
    ['PostgreSQL 23505 unique_violation', pg('23505')],
    ['PostgreSQL 22P02 invalid_text_representation', pg('22P02')],
    ['a TypeError', new TypeError('x is undefined')],
    ['a string', 'boom'],
  ];
  for (const [name, error] of notUnavailable) {
    test(`${name} → not unavailable, unchanged`, () => {
      assert.equal(isStoreUnavailable(error), false);
      assert.equal(asStoreUnavailable(error), error);
    });
  }

  test("a client's aborted request (ECONNRESET 'aborted') is not the store's failure at the HTTP boundary", () => {
    assert.equal(isStoreUnavailable(sys('ECONNRESET', 'aborted')), false);
  });

  test('socket and file-system errors from a driver are the store being unavailable', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOSPC', 'EIO']) {
      assert.ok(asStoreUnavailable(sys(code)) instanceof StoreUnavailableError, code);
    }
    assert.ok(asStoreUnavailable(new Error('Connection terminated unexpectedly')) instanceof StoreUnavailableError);
  });

  test('kinds: disk and I/O are capacity, a lost database is connection, a lock or timeout is contention', () => {
    const cases: [unknown, string][] = [
      [sqlite(13), 'capacity'],
      [sqlite(10 | (3 << 8)), 'capacity'],
      [sqlite(8), 'capacity'],
      [pg('53100'), 'capacity'],
      [pg('58030'), 'capacity'],
      [pg('25006'), 'capacity'],
      [pg('08006'), 'connection'],
      [pg('57P01'), 'connection'],
      [asStoreUnavailable(sys('ECONNREFUSED')), 'connection'],
      [asStoreUnavailable(new Error('Connection terminated unexpectedly')), 'connection'],
      [asStoreUnavailable(sys('ENOSPC')), 'capacity'],
      [sqlite(5), 'contention'],
      [pg('55P03'), 'contention'],
      [pg('57014'), 'contention'],
      [pg('40P01'), 'contention'],
      [new StoreUnavailableError('the embedded store could not sync its log'), 'capacity'],
    ];
    for (const [error, kind] of cases) {
      assert.equal(storeFailureKind(error), kind, String((error as Error).message));
    }
    assert.equal(storeFailureKind(pg('23505')), null);
  });
});
