// Reads of stored rows that only tests make: what a call's outbox holds, how many events or which keys exist,
// each delivery's state. Production never looks rows up this way, so these queries live here, not in src/store/.
import type { CallId, EventId, NumberId, TenantId, WebhookId } from '../../src/ids.ts';
import type { Db } from '../../src/store/db.ts';
import type { DeliveryStatus } from '../../src/store/deliveries.ts';
import type { EventRecord } from '../../src/store/events.ts';

/** A call's outbox rows, in sequence order. */
export async function listEventsForCall(db: Db, callId: CallId): Promise<EventRecord[]> {
  const rows = await db.query<{
    id: string;
    tenant_id: string;
    number_id: string;
    call_id: string | null;
    type: string;
    sequence: number | null;
    payload: string;
    occurred_at: string;
    created_at: string;
  }>(
    `SELECT id, tenant_id, number_id, call_id, type, sequence, payload, occurred_at, created_at FROM events
      WHERE call_id = $1 ORDER BY sequence`,
    [callId],
  );
  return rows.map((r) => ({
    id: r.id as EventId,
    tenantId: r.tenant_id as TenantId,
    numberId: r.number_id as NumberId,
    callId: r.call_id as CallId | null,
    type: r.type,
    sequence: r.sequence === null ? null : Number(r.sequence),
    payload: JSON.parse(r.payload),
    occurredAt: r.occurred_at,
    createdAt: r.created_at,
  }));
}

export async function countEventsForNumber(db: Db, numberId: NumberId): Promise<number> {
  const rows = await db.query<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM events WHERE number_id = $1', [
    numberId,
  ]);
  return Number(rows[0]?.n ?? 0);
}

/** A tenant's keys, as far as tests compare them: which number, and the hashes that authenticate. */
export async function listApiKeysForTenant(
  db: Db,
  tenantId: TenantId,
): Promise<{ numberId: NumberId | null; idHash: string; secretHash: string }[]> {
  const rows = await db.query<{ number_id: string | null; id_hash: string; secret_hash: string }>(
    'SELECT number_id, id_hash, secret_hash FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id_hash',
    [tenantId],
  );
  return rows.map((r) => ({ numberId: r.number_id as NumberId | null, idHash: r.id_hash, secretHash: r.secret_hash }));
}

export interface DeliveryRow {
  webhookId: WebhookId;
  eventId: EventId;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  lastStatusCode: number | null;
}

/** Every delivery of a webhook, oldest first. */
export async function listDeliveriesForWebhook(db: Db, webhookId: WebhookId): Promise<DeliveryRow[]> {
  const rows = await db.query<{
    webhook_id: string;
    event_id: string;
    status: string;
    attempts: number;
    next_attempt_at: string;
    last_error: string | null;
    last_status_code: number | null;
  }>(
    `SELECT webhook_id, event_id, status, attempts, next_attempt_at, last_error, last_status_code FROM deliveries
     WHERE webhook_id = $1 ORDER BY created_at, event_id`,
    [webhookId],
  );
  return rows.map((r) => ({
    webhookId: r.webhook_id as WebhookId,
    eventId: r.event_id as EventId,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
  }));
}

/** When a media node last beat (media_nodes.heartbeat_at), or null when it has no row. */
export async function mediaHeartbeatAt(db: Db, node: string): Promise<string | null> {
  const rows = await db.query<{ heartbeat_at: string }>('SELECT heartbeat_at FROM media_nodes WHERE node = $1', [node]);
  return rows[0]?.heartbeat_at ?? null;
}
