// Which store failures mean "the store cannot take writes right now" (disk full, I/O error, read-only, locked too
// long, connection lost) rather than "this request is wrong". The HTTP layer answers these 503 STORE_UNAVAILABLE with
// Retry-After, so clients and providers retry instead of losing what they sent.
import { StoreUnavailableError } from './db.ts';

/**
 * Why the store refused: `capacity` (disk full, I/O error, read-only: it stays so until someone acts), `connection`
 * (the database is gone or restarting: a write probe sees it exactly) or `contention` (a lock or a statement timed
 * out: this request only). Readiness treats them differently (readiness.ts); every kind is 503 to the request.
 */
export type StoreFailureKind = 'capacity' | 'connection' | 'contention';

// SQLite primary result codes (extended codes keep the primary one in their low byte).
const SQLITE_KINDS = new Map<number, StoreFailureKind>([
  [5, 'contention'], // SQLITE_BUSY: the write lock stayed with another connection past busy_timeout
  [6, 'contention'], // SQLITE_LOCKED
  [7, 'capacity'], // SQLITE_NOMEM
  [8, 'capacity'], // SQLITE_READONLY
  [10, 'capacity'], // SQLITE_IOERR
  [13, 'capacity'], // SQLITE_FULL
  [14, 'capacity'], // SQLITE_CANTOPEN
]);

// PostgreSQL SQLSTATEs: single codes first, then whole classes.
const PG_CODES = new Map<string, StoreFailureKind>([
  ['25006', 'capacity'], // read_only_sql_transaction (a standby, or default_transaction_read_only)
  ['55P03', 'contention'], // lock_not_available
  ['57014', 'contention'], // query_canceled (statement_timeout)
  ['40P01', 'contention'], // deadlock_detected: the retry will not meet the same lock order
]);
const PG_CLASSES: [string, StoreFailureKind][] = [
  ['08', 'connection'], // connection exception
  ['53', 'capacity'], // insufficient resources (disk full, out of memory, too many connections)
  ['57P', 'connection'], // admin shutdown, crash shutdown, cannot connect now
  ['58', 'capacity'], // system error (I/O)
];

// System errors: the driver's socket before any SQLSTATE exists, or the file system under the embedded store.
const SYSTEM_KINDS = new Map<string, StoreFailureKind>([
  ['ECONNREFUSED', 'connection'],
  ['ECONNRESET', 'connection'],
  ['ETIMEDOUT', 'connection'],
  ['EPIPE', 'connection'],
  ['ENOTFOUND', 'connection'],
  ['EHOSTUNREACH', 'connection'],
  ['ENOSPC', 'capacity'],
  ['EIO', 'capacity'],
  ['EROFS', 'capacity'],
]);
const SOCKET_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i;

/**
 * True when the error says the store is unavailable for now and the same request may succeed later. Looks only at
 * what can only come from a store (our StoreUnavailableError, SQLite result codes, PostgreSQL SQLSTATEs): a socket
 * error here may as well be the client's own connection going away.
 */
export function isStoreUnavailable(error: unknown): boolean {
  return classify(error, false) !== null;
}

/** The kind of an unavailable-store error (null when it is not one); see StoreFailureKind. */
export function storeFailureKind(error: unknown): StoreFailureKind | null {
  return classify(error, false);
}

/**
 * For the drivers: the error as a StoreUnavailableError when it is one of those failures, socket and file-system
 * errors included (coming from the driver, they are the store's); any other error unchanged.
 */
export function asStoreUnavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || classify(error, true) === null) {
    return error;
  }
  return new StoreUnavailableError((error as Error).message ?? String(error), { cause: error });
}

function classify(error: unknown, fromDriver: boolean): StoreFailureKind | null {
  if (error instanceof StoreUnavailableError) {
    // Wrapped by a driver: its cause says why. Raised by us (a store that could not sync its log): capacity.
    return error.cause === undefined ? 'capacity' : (classify(error.cause, true) ?? 'capacity');
  }
  if (typeof error !== 'object' || error === null) {
    return null;
  }
  const e = error as { code?: unknown; errcode?: unknown; message?: unknown };
  if (e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    return SQLITE_KINDS.get(e.errcode & 0xff) ?? null;
  }
  const code = typeof e.code === 'string' ? e.code : '';
  // The SQLSTATEs we look for all start with a digit; Node's system error codes start with E.
  if (/^[0-9][0-9A-Z]{4}$/.test(code)) {
    return PG_CODES.get(code) ?? PG_CLASSES.find(([c]) => code.startsWith(c))?.[1] ?? null;
  }
  if (!fromDriver) {
    return null;
  }
  if (SYSTEM_KINDS.has(code)) {
    return SYSTEM_KINDS.get(code) ?? null;
  }
  return typeof e.message === 'string' && SOCKET_MESSAGES.test(e.message) ? 'connection' : null;
}
