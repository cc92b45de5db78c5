// The outbox: an event row per change worth telling, written in the transaction that made the change.
import type { CallId, EventId, NumberId, TenantId } from '../ids.ts';
import type { Db } from './db.ts';
import type { FanOutEvent } from './deliveries.ts';

/** One row of the outbox. */
export interface EventRecord {
  id: EventId;
  tenantId: TenantId;
  numberId: NumberId;
  callId: CallId | null;
  type: string;
  sequence: number | null;
  payload: Record<string, unknown>;
  occurredAt: string;
  createdAt: string;
}

const COLUMNS = 'id, tenant_id, number_id, call_id, type, sequence, payload, occurred_at, created_at';

/** Must run in the transaction that made the change the event reports. */
export async function enqueueEvent(db: Db, e: EventRecord): Promise<void> {
  await db.execute(`INSERT INTO events (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
    e.id,
    e.tenantId,
    e.numberId,
    e.callId,
    e.type,
    e.sequence,
    JSON.stringify(e.payload),
    e.occurredAt,
    e.createdAt,
  ]);
}

/** Whether an event with this id is already in the outbox: events whose id derives from their source dedupe by it. */
export async function eventExists(db: Db, id: EventId): Promise<boolean> {
  return (await db.query('SELECT id FROM events WHERE id = $1', [id])).length > 0;
}

/** An outbox event of one number (replay may only name those). */
export async function findEventForNumber(db: Db, numberId: NumberId, eventId: string): Promise<FanOutEvent | null> {
  const rows = await db.query<{
    id: string;
    number_id: string;
    type: string;
    call_id: string | null;
    sequence: number | null;
    created_at: string;
  }>('SELECT id, number_id, type, call_id, sequence, created_at FROM events WHERE id = $1 AND number_id = $2', [
    eventId,
    numberId,
  ]);
  const r = rows[0];
  return r
    ? {
        id: r.id as EventId,
        numberId: r.number_id as NumberId,
        type: r.type,
        callId: r.call_id as CallId | null,
        sequence: r.sequence === null ? null : Number(r.sequence),
        createdAt: r.created_at,
      }
    : null;
}
