// Which store failures mean "the store cannot take writes right now" (disk full, I/O error, read-only, locked too
// long, connection lost) rather than "this request is wrong". The HTTP layer answers these 503 STORE_UNAVAILABLE with
// Retry-After, so clients and providers retry instead of losing what they sent.
import { StoreUnavailableError } from './db.ts';

// SQLite primary result codes (extended codes keep the primary one in their low byte).
const SQLITE_UNAVAILABLE = new Set([
  5, // SQLITE_BUSY: the write lock stayed with another connection past busy_timeout
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
]);

// PostgreSQL SQLSTATEs: whole classes, then single codes.
const PG_UNAVAILABLE_CLASSES = ['08', '53', '57P', '58'];
const PG_UNAVAILABLE_CODES = new Set([
  '25006', // read_only_sql_transaction (a standby, or default_transaction_read_only)
  '55P03', // lock_not_available
  '57014', // query_canceled (statement_timeout)
  '40P01', // deadlock_detected: the retry will not meet the same lock order
]);

// System errors: the driver's socket before any SQLSTATE exists, or the file system under the embedded store.
const SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENOSPC',
  'EIO',
  'EROFS',
]);
const SOCKET_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i;

/**
 * True when the error says the store is unavailable for now and the same request may succeed later. Looks only at
 * what can only come from a store (our StoreUnavailableError, SQLite result codes, PostgreSQL SQLSTATEs): a socket
 * error here may as well be the client's own connection going away.
 */
export function isStoreUnavailable(error: unknown): boolean {
  return classify(error, false);
}

/**
 * For the drivers: the error as a StoreUnavailableError when it is one of those failures, socket and file-system
 * errors included (coming from the driver, they are the store's); any other error unchanged.
 */
export function asStoreUnavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !classify(error, true)) {
    return error;
  }
  return new StoreUnavailableError((error as Error).message ?? String(error), { cause: error });
}

function classify(error: unknown, fromDriver: boolean): boolean {
  if (error instanceof StoreUnavailableError) {
    return true;
  }
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const e = error as { code?: unknown; errcode?: unknown; message?: unknown };
  if (e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    return SQLITE_UNAVAILABLE.has(e.errcode & 0xff);
  }
  const code = typeof e.code === 'string' ? e.code : '';
  // The SQLSTATEs we look for all start with a digit; Node's system error codes start with E.
  if (/^[0-9][0-9A-Z]{4}$/.test(code)) {
    return PG_UNAVAILABLE_CODES.has(code) || PG_UNAVAILABLE_CLASSES.some((c) => code.startsWith(c));
  }
  if (!fromDriver) {
    return false;
  }
  return SYSTEM_CODES.has(code) || (typeof e.message === 'string' && SOCKET_MESSAGES.test(e.message));
}
