import type { NumberId } from '../ids.ts';
import type { ProviderEnd } from '../model/provider-event.ts';
import type { Db } from './db.ts';

/** Remembers that the provider's call has ended; false when it was remembered already (the first one stays). */
export async function putTombstone(
  db: Db,
  numberId: NumberId,
  externalCallId: string,
  end: ProviderEnd,
  expiresAt: string,
): Promise<boolean> {
  const inserted = await db.execute(
    `INSERT INTO tombstones (number_id, external_call_id, payload, expires_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (number_id, external_call_id) DO NOTHING`,
    [numberId, externalCallId, JSON.stringify(end), expiresAt],
  );
  return inserted === 1;
}

/** Consumes the tombstone of a call whose end came before its offer, if one is still fresh. */
export async function takeTombstone(
  db: Db,
  numberId: NumberId,
  externalCallId: string,
  now: string,
): Promise<ProviderEnd | null> {
  const rows = await db.query<{ payload: string; expires_at: string }>(
    'DELETE FROM tombstones WHERE number_id = $1 AND external_call_id = $2 RETURNING payload, expires_at',
    [numberId, externalCallId],
  );
  const row = rows[0];
  return row && row.expires_at > now ? (JSON.parse(row.payload) as ProviderEnd) : null;
}

export async function deleteExpiredTombstones(db: Db, now: string): Promise<number> {
  return db.execute('DELETE FROM tombstones WHERE expires_at <= $1', [now]);
}
