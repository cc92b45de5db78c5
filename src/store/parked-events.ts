import type { NumberId } from '../ids.ts';
import { ulid } from '../ids.ts';
import type { ProviderCallEvent } from '../model/provider-event.ts';
import type { Db } from './db.ts';

/** Keeps an event for an outbound call whose provider id we have not stored yet. */
export async function parkEvent(
  db: Db,
  numberId: NumberId,
  event: ProviderCallEvent,
  expiresAt: string,
): Promise<void> {
  await db.execute(
    'INSERT INTO parked_events (id, number_id, external_call_id, payload, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [`pev_${ulid()}`, numberId, event.externalCallId, JSON.stringify(event), expiresAt],
  );
}

/** Takes the parked events of a call, oldest first; expired ones are dropped. */
export async function takeParkedEvents(
  db: Db,
  numberId: NumberId,
  externalCallId: string,
  now: string,
): Promise<ProviderCallEvent[]> {
  const rows = await db.query<{ id: string; payload: string; expires_at: string }>(
    'SELECT id, payload, expires_at FROM parked_events WHERE number_id = $1 AND external_call_id = $2 ORDER BY id',
    [numberId, externalCallId],
  );
  if (rows.length) {
    await db.execute('DELETE FROM parked_events WHERE number_id = $1 AND external_call_id = $2', [
      numberId,
      externalCallId,
    ]);
  }
  return rows.filter((r) => r.expires_at > now).map((r) => JSON.parse(r.payload) as ProviderCallEvent);
}

export async function deleteExpiredParkedEvents(db: Db, now: string): Promise<number> {
  return db.execute('DELETE FROM parked_events WHERE expires_at <= $1', [now]);
}
