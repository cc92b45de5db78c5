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
 * Takes one attempt on the number left behind since `since` (oldest first); true when there was one. Taken by its
 * delete, so two sweeping processes never both count the same attempt.
 */
export async function takeOutboundAttempt(db: Db, numberId: NumberId, since: string): Promise<boolean> {
  const rows = await db.query<{ id: string }>(
    'SELECT id FROM outbound_attempts WHERE number_id = $1 AND created_at >= $2 ORDER BY created_at LIMIT 5',
    [numberId, since],
  );
  for (const row of rows) {
    if ((await db.execute('DELETE FROM outbound_attempts WHERE id = $1', [row.id])) === 1) {
      return true;
    }
  }
  return false;
}

export async function deleteOldOutboundAttempts(db: Db, before: string): Promise<number> {
  return db.execute('DELETE FROM outbound_attempts WHERE created_at < $1', [before]);
}
