import type { NumberId } from '../ids.ts';
import { ulid } from '../ids.ts';
import type { ProviderCallEvent } from '../model/provider-event.ts';
import type { Db } from './db.ts';

/** How long an outbound event may wait for its call to be stored (docs/spec/providers-meta.md R6), at least. */
export const PARKED_FOR_MS = 60_000;

/**
 * How long an outbound event waits for its call: 60 s, or longer when the request placing the call may run longer
 * (its provider's deadline, then the insert): its call must still find it, and the sweep must not take it for a call
 * no request stored while one still may (src/calls/unclaimed-outbound.ts).
 */
export function parkedForMs(providerTimeoutMs: number): number {
  return Math.max(PARKED_FOR_MS, providerTimeoutMs + 20_000);
}

/** Keeps an event for an outbound call whose provider id we have not stored yet. */
export async function parkEvent(
  db: Db,
  numberId: NumberId,
  event: ProviderCallEvent,
  now: Date,
  parkedFor: number = PARKED_FOR_MS,
): Promise<void> {
  await db.execute(
    'INSERT INTO parked_events (id, number_id, external_call_id, payload, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [
      `pev_${ulid()}`,
      numberId,
      event.externalCallId,
      JSON.stringify(event),
      new Date(now.getTime() + parkedFor).toISOString(),
    ],
  );
}

export interface UnclaimedOutboundCall {
  numberId: NumberId;
  externalCallId: string;
  /** The provider already said the call is over: nothing to end there. */
  ended: boolean;
}

/**
 * Provider calls with events parked before `parkedBefore` that no call of ours has claimed: their POST /v1/calls
 * never stored them (its process died between the provider's answer and the insert), so nothing here knows them.
 */
export async function listUnclaimedOutboundCalls(
  db: Db,
  parkedBefore: Date,
  limit: number,
  parkedFor: number = PARKED_FOR_MS,
): Promise<UnclaimedOutboundCall[]> {
  const rows = await db.query<{ number_id: NumberId; external_call_id: string; payload: string }>(
    `SELECT p.number_id, p.external_call_id, p.payload FROM parked_events p
    WHERE p.expires_at <= $1 AND NOT EXISTS (
      SELECT 1 FROM calls c WHERE c.number_id = p.number_id AND c.external_call_id = p.external_call_id
    ) ORDER BY p.expires_at LIMIT $2`,
    [new Date(parkedBefore.getTime() + parkedFor).toISOString(), limit],
  );
  const calls = new Map<string, UnclaimedOutboundCall>();
  for (const row of rows) {
    const key = `${row.number_id} ${row.external_call_id}`;
    const call = calls.get(key) ?? { numberId: row.number_id, externalCallId: row.external_call_id, ended: false };
    const event = JSON.parse(row.payload) as ProviderCallEvent;
    call.ended ||= event.type === 'end' || (event.type === 'progress' && event.status === 'REJECTED');
    calls.set(key, call);
  }
  return [...calls.values()];
}

/** Drops an unclaimed call's parked events once it has been dealt with. */
export async function forgetParkedEvents(db: Db, numberId: NumberId, externalCallId: string): Promise<void> {
  await db.execute('DELETE FROM parked_events WHERE number_id = $1 AND external_call_id = $2', [
    numberId,
    externalCallId,
  ]);
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
    await forgetParkedEvents(db, numberId, externalCallId);
  }
  return rows.filter((r) => r.expires_at > now).map((r) => JSON.parse(r.payload) as ProviderCallEvent);
}

export async function deleteExpiredParkedEvents(db: Db, now: string): Promise<number> {
  return db.execute('DELETE FROM parked_events WHERE expires_at <= $1', [now]);
}
