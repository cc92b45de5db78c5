import type { Db } from './db.ts';

export interface IdempotencyRecord {
  fingerprint: string;
  state: 'IN_PROGRESS' | 'DONE';
  responseStatus: number | null;
  responseBody: string | null;
  lockedAt: string;
  expiresAt: string;
}

interface Row {
  fingerprint: string;
  state: string;
  response_status: number | null;
  response_body: string | null;
  locked_at: string;
  expires_at: string;
}

/** Answers true when this request now owns the key. */
export async function tryLockIdempotencyKey(
  db: Db,
  scope: string,
  key: string,
  fingerprint: string,
  now: string,
  expiresAt: string,
): Promise<boolean> {
  return (
    (await db.execute(
      `INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, state, locked_at, expires_at)
      VALUES ($1, $2, $3, 'IN_PROGRESS', $4, $5) ON CONFLICT (scope, idempotency_key) DO NOTHING`,
      [scope, key, fingerprint, now, expiresAt],
    )) === 1
  );
}

export async function readIdempotencyKey(db: Db, scope: string, key: string): Promise<IdempotencyRecord | null> {
  const rows = await db.query<Row>(
    'SELECT fingerprint, state, response_status, response_body, locked_at, expires_at FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2',
    [scope, key],
  );
  const r = rows[0];
  return r
    ? {
        fingerprint: r.fingerprint,
        state: r.state as IdempotencyRecord['state'],
        responseStatus: r.response_status === null ? null : Number(r.response_status),
        responseBody: r.response_body,
        lockedAt: r.locked_at,
        expiresAt: r.expires_at,
      }
    : null;
}

/** Takes over a key whose owner died (lock older than allowed) or whose record expired. */
export async function relockIdempotencyKey(
  db: Db,
  scope: string,
  key: string,
  previousLockedAt: string,
  fingerprint: string,
  now: string,
  expiresAt: string,
): Promise<boolean> {
  return (
    (await db.execute(
      `UPDATE idempotency_keys SET state = 'IN_PROGRESS', fingerprint = $4, locked_at = $5, expires_at = $6,
      response_status = NULL, response_body = NULL WHERE scope = $1 AND idempotency_key = $2 AND locked_at = $3`,
      [scope, key, previousLockedAt, fingerprint, now, expiresAt],
    )) === 1
  );
}

/** Stores the response of the request that locked the key at `lockedAt` (a request that took it over since wins). */
export async function completeIdempotencyKey(
  db: Db,
  scope: string,
  key: string,
  lockedAt: string,
  status: number,
  body: string,
): Promise<void> {
  await db.execute(
    `UPDATE idempotency_keys SET state = 'DONE', response_status = $4, response_body = $5
      WHERE scope = $1 AND idempotency_key = $2 AND locked_at = $3`,
    [scope, key, lockedAt, status, body],
  );
}

/**
 * Releases the key the request locked at `lockedAt`; one that took it over since keeps it. So does an answer the
 * request committed with what it created: a failure after that commit must not let a retry create it again.
 */
export async function forgetIdempotencyKey(db: Db, scope: string, key: string, lockedAt: string): Promise<void> {
  await db.execute(
    `DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND locked_at = $3
      AND state = 'IN_PROGRESS'`,
    [scope, key, lockedAt],
  );
}

export async function deleteExpiredIdempotencyKeys(db: Db, now: string): Promise<number> {
  return db.execute('DELETE FROM idempotency_keys WHERE expires_at <= $1', [now]);
}
