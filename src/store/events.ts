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

interface Row {
  id: string;
  tenant_id: string;
  number_id: string;
  call_id: string | null;
  type: string;
  sequence: number | null;
  payload: string;
  occurred_at: string;
  created_at: string;
}

const COLUMNS = 'id, tenant_id, number_id, call_id, type, sequence, payload, occurred_at, created_at';

function fromRow(r: Row): EventRecord {
  return {
    id: r.id as EventId,
    tenantId: r.tenant_id as TenantId,
    numberId: r.number_id as NumberId,
    callId: r.call_id as CallId | null,
    type: r.type,
    sequence: r.sequence === null ? null : Number(r.sequence),
    payload: JSON.parse(r.payload),
    occurredAt: r.occurred_at,
    createdAt: r.created_at,
  };
}

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

export async function listEventsForCall(db: Db, callId: CallId): Promise<EventRecord[]> {
  return (await db.query<Row>(`SELECT ${COLUMNS} FROM events WHERE call_id = $1 ORDER BY sequence`, [callId])).map(
    fromRow,
  );
}

export async function countEventsForNumber(db: Db, numberId: NumberId): Promise<number> {
  const rows = await db.query<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM events WHERE number_id = $1', [
    numberId,
  ]);
  return Number(rows[0]?.n ?? 0);
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
