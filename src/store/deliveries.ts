// Deliveries (one per webhook and event) and their attempt log. The fan-out runs in the caller's
// transaction, so an event that commits always has its deliveries; the worker claims due ones with a lease.
import { newAttemptId, type CallId, type EventId, type NumberId, type WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { listActiveWebhooksForNumber } from './webhooks.ts';

export type DeliveryStatus = 'PENDING' | 'SUCCESS' | 'FAILED';
export type AttemptStatus = 'SUCCESS' | 'FAILED';

/** The part of an outbox event the fan-out needs. */
export interface FanOutEvent { id: EventId; numberId: NumberId; type: string; callId: CallId | null; sequence: number | null; createdAt: string }

function subscribes(events: readonly string[], type: string): boolean {
  return events.includes('*') || events.includes(type);
}

/**
 * One PENDING delivery, due at once, per active webhook of the event's number subscribed to its type.
 * Must run in the transaction that inserts the event. Answers how many deliveries it made.
 */
export async function enqueueDeliveries(tx: Db, event: FanOutEvent): Promise<number> {
  let made = 0;
  for (const webhook of await listActiveWebhooksForNumber(tx, event.numberId)) {
    if (!subscribes(webhook.events, event.type)) continue;
    await tx.execute(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, call_id, sequence, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $6, $6)`,
      [webhook.id, event.id, event.type, event.callId, event.sequence, event.createdAt],
    );
    made += 1;
  }
  return made;
}

/** A delivery a worker holds a lease on, with what it needs to send it. */
export interface ClaimedDelivery {
  webhookId: WebhookId;
  eventId: EventId;
  eventType: string;
  /** This try's number, from 1. */
  attempt: number;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: string | null;
  /** The event's JSON exactly as stored: the signed body. */
  payload: string;
  createdAt: string;
  leaseToken: string;
}

interface ClaimRow {
  webhook_id: string; event_id: string; event_type: string; attempts: number; url: string; secret: string;
  previous_secret: string | null; previous_secret_expires_at: string | null; payload: string; created_at: string; in_flight: number | string;
}

const IN_FLIGHT = `(SELECT COUNT(*) FROM deliveries f WHERE f.webhook_id = d.webhook_id AND f.status = 'PENDING' AND f.lease_until > $1)`;

/**
 * Leases up to `limit` due deliveries until `leaseUntil`. Skips webhooks that already have
 * `perWebhookLimit` attempts in flight (a hanging receiver only ever holds its own slots), inactive
 * webhooks, and any delivery whose call has an earlier event still pending and due for the same webhook
 * (per-call sequence order). PostgreSQL: SKIP LOCKED lets concurrent workers take disjoint rows;
 * SQLite: SqliteDb runs transactions one at a time (BEGIN IMMEDIATE also serialises processes).
 */
export async function claimDueDeliveries(
  db: Db,
  p: { now: string; leaseUntil: string; token: string; limit: number; perWebhookLimit: number },
): Promise<ClaimedDelivery[]> {
  const lock = db.dialect === 'postgres' ? ' FOR UPDATE OF d SKIP LOCKED' : '';
  // A cheap look first, outside any transaction: most polls find nothing due.
  const due = await db.query(
    "SELECT 1 AS due FROM deliveries WHERE status = 'PENDING' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) LIMIT 1",
    [p.now],
  );
  if (due.length === 0) return [];
  return db.transaction(async (tx) => {
    const rows = await tx.query<ClaimRow>(
      `SELECT d.webhook_id, d.event_id, d.event_type, d.attempts, d.created_at, w.url, w.secret, w.previous_secret,
         w.previous_secret_expires_at, e.payload, ${IN_FLIGHT} AS in_flight
       FROM deliveries d
       JOIN webhooks w ON w.id = d.webhook_id
       JOIN events e ON e.id = d.event_id
       WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
         AND w.active = 1
         AND ${IN_FLIGHT} < $2
         AND NOT EXISTS (
           SELECT 1 FROM deliveries b WHERE b.webhook_id = d.webhook_id AND b.call_id = d.call_id
             AND b.sequence < d.sequence AND b.status = 'PENDING' AND b.next_attempt_at <= $1)
       ORDER BY d.next_attempt_at, d.sequence
       LIMIT $3${lock}`,
      [p.now, p.perWebhookLimit, p.limit],
    );
    // The cap again inside the batch: the count above does not see the rows this batch takes.
    const taken = new Map<string, number>();
    const claimed: ClaimedDelivery[] = [];
    for (const r of rows) {
      const used = Number(r.in_flight) + (taken.get(r.webhook_id) ?? 0);
      if (used >= p.perWebhookLimit) continue;
      taken.set(r.webhook_id, (taken.get(r.webhook_id) ?? 0) + 1);
      await tx.execute('UPDATE deliveries SET lease_until = $3, lease_token = $4, updated_at = $5 WHERE webhook_id = $1 AND event_id = $2', [
        r.webhook_id, r.event_id, p.leaseUntil, p.token, p.now,
      ]);
      claimed.push({
        webhookId: r.webhook_id as WebhookId, eventId: r.event_id as EventId, eventType: r.event_type, attempt: Number(r.attempts) + 1,
        url: r.url, secret: r.secret, previousSecret: r.previous_secret, previousSecretExpiresAt: r.previous_secret_expires_at,
        payload: r.payload, createdAt: r.created_at, leaseToken: p.token,
      });
    }
    return claimed;
  });
}

/** One HTTP try, as the log shows it. */
export interface AttemptRecord {
  id: string;
  webhookId: WebhookId;
  eventId: EventId;
  eventType: string;
  attempt: number;
  status: AttemptStatus;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  createdAt: string;
}

export async function insertAttempt(db: Db, a: Omit<AttemptRecord, 'id'>): Promise<void> {
  await db.execute(
    `INSERT INTO delivery_attempts (id, webhook_id, event_id, event_type, attempt, status, status_code, duration_ms, error, response_body, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [newAttemptId(), a.webhookId, a.eventId, a.eventType, a.attempt, a.status, a.statusCode, a.durationMs, a.error, a.responseBody, a.createdAt],
  );
}

/** What happens to a delivery after a try. */
export type Settlement =
  | { status: 'SUCCESS' }
  | { status: 'PENDING'; nextAttemptAt: string }
  | { status: 'FAILED' };

/**
 * Records the outcome of the try made under `token`. Answers false when the lease was lost meanwhile
 * (replayed, its webhook disabled or deleted): then nothing is changed.
 */
export async function settleDelivery(
  db: Db,
  d: { webhookId: WebhookId; eventId: EventId; token: string },
  s: Settlement & { attempt: number; statusCode: number | null; error: string | null; now: string },
): Promise<boolean> {
  const next = s.status === 'PENDING' ? s.nextAttemptAt : null;
  const changed = await db.execute(
    `UPDATE deliveries SET status = $4, attempts = $5, next_attempt_at = COALESCE($6, next_attempt_at), lease_until = NULL, lease_token = NULL,
       last_status_code = $7, last_error = $8, delivered_at = $9, updated_at = $10
     WHERE webhook_id = $1 AND event_id = $2 AND lease_token = $3 AND status = 'PENDING'`,
    [d.webhookId, d.eventId, d.token, s.status, s.attempt, next, s.statusCode, s.error, s.status === 'SUCCESS' ? s.now : null, s.now],
  );
  return changed > 0;
}

/** The webhook was disabled: nothing more is sent for it, and its pending deliveries say why. */
export async function failPendingDeliveriesOfWebhook(db: Db, webhookId: WebhookId, reason: string, now: string): Promise<number> {
  return db.execute(
    `UPDATE deliveries SET status = 'FAILED', lease_until = NULL, lease_token = NULL, last_error = $2, updated_at = $3
     WHERE webhook_id = $1 AND status = 'PENDING'`,
    [webhookId, reason, now],
  );
}

/** Gives back leases a stopping worker still holds, so another worker can take them at once. */
export async function releaseLeases(db: Db, token: string, keys: { webhookId: string; eventId: string }[], now: string): Promise<void> {
  for (const k of keys) {
    await db.execute(
      `UPDATE deliveries SET lease_until = NULL, lease_token = NULL, updated_at = $4
       WHERE webhook_id = $1 AND event_id = $2 AND lease_token = $3 AND status = 'PENDING'`,
      [k.webhookId, k.eventId, token, now],
    );
  }
}

/** Replay: the delivery starts over (attempt 1, due now), or is made if the event predates the webhook. */
export async function requeueDelivery(
  db: Db,
  e: { webhookId: WebhookId; eventId: EventId; eventType: string; callId: CallId | null; sequence: number | null },
  now: string,
): Promise<void> {
  await db.execute(
    `INSERT INTO deliveries (webhook_id, event_id, event_type, call_id, sequence, status, attempts, next_attempt_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $6, $6)
     ON CONFLICT (webhook_id, event_id) DO UPDATE SET status = 'PENDING', attempts = 0, next_attempt_at = $6, lease_until = NULL,
       lease_token = NULL, last_status_code = NULL, last_error = NULL, delivered_at = NULL, updated_at = $6`,
    [e.webhookId, e.eventId, e.eventType, e.callId, e.sequence, now],
  );
}

interface AttemptRow {
  id: string; webhook_id: string; event_id: string; event_type: string; attempt: number; status: string; status_code: number | null;
  duration_ms: number; error: string | null; response_body: string | null; created_at: string;
}

/** The log of one webhook (already found in the caller's scope), newest first. */
export async function listAttemptsForWebhook(db: Db, webhookId: WebhookId, opts: { limit: number; eventType: string | null }): Promise<AttemptRecord[]> {
  const byEvent = opts.eventType === null ? '' : ' AND event_type = $3';
  const params = opts.eventType === null ? [webhookId, opts.limit] : [webhookId, opts.limit, opts.eventType];
  const rows = await db.query<AttemptRow>(
    `SELECT id, webhook_id, event_id, event_type, attempt, status, status_code, duration_ms, error, response_body, created_at
     FROM delivery_attempts WHERE webhook_id = $1${byEvent} ORDER BY created_at DESC, id DESC LIMIT $2`,
    params,
  );
  return rows.map((r) => ({
    id: r.id, webhookId: r.webhook_id as WebhookId, eventId: r.event_id as EventId, eventType: r.event_type, attempt: Number(r.attempt),
    status: r.status as AttemptStatus, statusCode: r.status_code === null ? null : Number(r.status_code), durationMs: Number(r.duration_ms),
    error: r.error, responseBody: r.response_body, createdAt: r.created_at,
  }));
}

/** An outbox event of one number (replay may only name those). */
export async function findEventForNumber(db: Db, numberId: NumberId, eventId: string): Promise<FanOutEvent | null> {
  const rows = await db.query<{ id: string; number_id: string; type: string; call_id: string | null; sequence: number | null; created_at: string }>(
    'SELECT id, number_id, type, call_id, sequence, created_at FROM events WHERE id = $1 AND number_id = $2', [eventId, numberId]);
  const r = rows[0];
  return r
    ? { id: r.id as EventId, numberId: r.number_id as NumberId, type: r.type, callId: r.call_id as CallId | null, sequence: r.sequence === null ? null : Number(r.sequence), createdAt: r.created_at }
    : null;
}

export interface DeliveryRow { webhookId: WebhookId; eventId: EventId; status: DeliveryStatus; attempts: number; nextAttemptAt: string; lastError: string | null; lastStatusCode: number | null }

/** Every delivery of a webhook (operations and tests). */
export async function listDeliveriesForWebhook(db: Db, webhookId: WebhookId): Promise<DeliveryRow[]> {
  const rows = await db.query<{ webhook_id: string; event_id: string; status: string; attempts: number; next_attempt_at: string; last_error: string | null; last_status_code: number | null }>(
    `SELECT webhook_id, event_id, status, attempts, next_attempt_at, last_error, last_status_code FROM deliveries
     WHERE webhook_id = $1 ORDER BY created_at, event_id`, [webhookId]);
  return rows.map((r) => ({
    webhookId: r.webhook_id as WebhookId, eventId: r.event_id as EventId, status: r.status as DeliveryStatus, attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at, lastError: r.last_error, lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
  }));
}

/** Due, not yet delivered, for active webhooks: the backlog gauges. */
export async function deliveryBacklog(db: Db, now: string): Promise<{ size: number; oldestDueAt: string | null }> {
  const rows = await db.query<{ n: number | string; oldest: string | null }>(
    `SELECT COUNT(*) AS n, MIN(d.next_attempt_at) AS oldest FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
     WHERE d.status = 'PENDING' AND w.active = 1 AND d.next_attempt_at <= $1`, [now]);
  return { size: Number(rows[0]?.n ?? 0), oldestDueAt: rows[0]?.oldest ?? null };
}
