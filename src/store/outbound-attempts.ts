// The outbound_attempts table: POST /v1/calls requests between asking the provider and storing the call.
import type { NumberId } from '../ids.ts';
import { ulid } from '../ids.ts';
import type { Db } from './db.ts';

/** Before the provider is asked (durable: a process killed right after must leave it behind). */
export async function insertOutboundAttempt(db: Db, numberId: NumberId, now: string): Promise<string> {
  const id = `oat_${ulid()}`;
  await db.execute('INSERT INTO outbound_attempts (id, number_id, created_at) VALUES ($1, $2, $3)', [
    id,
    numberId,
    now,
  ]);
  return id;
}

/** The attempt is accounted for: its call was stored, or the provider clearly placed nothing. */
export async function deleteOutboundAttempt(db: Db, id: string): Promise<void> {
  await db.execute('DELETE FROM outbound_attempts WHERE id = $1', [id]);
}

/**
 * Takes one attempt on the number made between `since` and `until` (oldest first); answers when it was made, or null
 * when there was none. Taken by its delete, so two sweeping processes never both count the same attempt.
 */
export async function takeOutboundAttempt(
  db: Db,
  numberId: NumberId,
  since: string,
  until: string,
): Promise<string | null> {
  const rows = await db.query<{ id: string; created_at: string }>(
    `SELECT id, created_at FROM outbound_attempts WHERE number_id = $1 AND created_at >= $2 AND created_at <= $3
      ORDER BY created_at LIMIT 5`,
    [numberId, since, until],
  );
  for (const row of rows) {
    if ((await db.execute('DELETE FROM outbound_attempts WHERE id = $1', [row.id])) === 1) {
      return row.created_at;
    }
  }
  return null;
}

/** Whether a request on the number made an attempt after `after` that is still open. */
export async function hasOutboundAttemptSince(db: Db, numberId: NumberId, after: string): Promise<boolean> {
  const rows = await db.query('SELECT id FROM outbound_attempts WHERE number_id = $1 AND created_at > $2 LIMIT 1', [
    numberId,
    after,
  ]);
  return rows.length > 0;
}

export async function deleteOldOutboundAttempts(db: Db, before: string): Promise<number> {
  return db.execute('DELETE FROM outbound_attempts WHERE created_at < $1', [before]);
}
