// Deliveries (one per webhook and event) and their attempt log. The fan-out runs in the caller's
// transaction, so an event that commits always has its deliveries; the worker claims due ones with a lease.
import { type CallId, type EventId, type NumberId, newAttemptId, type WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { listActiveWebhooksForNumber } from './webhooks.ts';

export type DeliveryStatus = 'PENDING' | 'SUCCESS' | 'FAILED';
export type AttemptStatus = 'SUCCESS' | 'FAILED';

/** The part of an outbox event the fan-out needs. */
export interface FanOutEvent {
  id: EventId;
  numberId: NumberId;
  type: string;
  callId: CallId | null;
  sequence: number | null;
  createdAt: string;
}

function subscribes(events: readonly string[], type: string): boolean {
  return events.includes('*') || events.includes(type);
}

/**
 * A Db may carry this hook (notifyingDb in webhooks/worker.ts sets it on the transactions it runs): enqueueDeliveries
 * calls it when it made deliveries, so the in-process worker is woken after commits that queued something, not all.
 */
export const ON_DELIVERIES_QUEUED: unique symbol = Symbol('onDeliveriesQueued');
export type QueueObservedDb = Db & { [ON_DELIVERIES_QUEUED]?: () => void };

/**
 * One PENDING delivery, due at once, per active webhook of the event's number subscribed to its type.
 * Must run in the transaction that inserts the event. Answers how many deliveries it made.
 */
export async function enqueueDeliveries(tx: QueueObservedDb, event: FanOutEvent): Promise<number> {
  let made = 0;
  for (const webhook of await listActiveWebhooksForNumber(tx, event.numberId)) {
    if (!subscribes(webhook.events, event.type)) {
      continue;
    }
    await tx.execute(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, call_id, sequence, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $6, $6)`,
      [webhook.id, event.id, event.type, event.callId, event.sequence, event.createdAt],
    );
    made += 1;
  }
  if (made > 0) {
    tx[ON_DELIVERIES_QUEUED]?.();
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

interface QueuedWebhookRow {
  id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
}
interface LeasedRow {
  event_id: string;
  event_type: string;
  attempts: number;
  created_at: string;
}

/** PostgreSQL: the rows of a JSON array parameter as a table `v`, so one statement writes a whole batch. */
function jsonRows(param: string, columns: readonly (readonly [string, 'text' | 'integer' | 'timestamptz'])[]): string {
  return `jsonb_to_recordset(${param}::jsonb) AS v(${columns.map(([n, t]) => `${n} ${t}`).join(', ')})`;
}

/** `IN (...)` over a JSON array parameter of strings. */
function inJsonList(db: Db, param: string): string {
  return db.dialect === 'postgres'
    ? `IN (SELECT jsonb_array_elements_text(${param}::jsonb))`
    : `IN (SELECT value FROM json_each(${param}))`;
}

/**
 * Leases up to `limit` due deliveries until `leaseUntil`, in one transaction. Per-call order: a delivery is not
 * taken while an earlier-sequence delivery of the same call and webhook is pending and due (in flight included).
 * Isolation: a claim never brings a webhook above `perWebhookLimit` leased deliveries (a hanging receiver only ever
 * holds its own slots), not counting `answered`: leases the caller holds on tries that are over but not yet
 * recorded (they no longer load the receiver). Inactive webhooks get none.
 *
 * Cost: it reads the leased rows, one index probe per webhook that has waiting deliveries, and the heads of the
 * due webhooks' queues — never the whole backlog (deliveries_queue and deliveries_leased, migration 005).
 * PostgreSQL: SKIP LOCKED lets concurrent workers take disjoint rows; SQLite serialises transactions.
 */
export async function claimDueDeliveries(
  db: Db,
  p: {
    now: string;
    leaseUntil: string;
    token: string;
    limit: number;
    perWebhookLimit: number;
    look?: boolean;
    answered?: ReadonlyMap<string, number>;
  },
): Promise<ClaimedDelivery[]> {
  const lock = db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  // A poll looks first, outside any transaction: most find nothing due. A wake-up knows something was queued.
  if (p.look !== false) {
    const due = await db.query(
      "SELECT 1 AS due FROM deliveries WHERE status = 'PENDING' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) LIMIT 1",
      [p.now],
    );
    if (due.length === 0) {
      return [];
    }
  }
  return db.transaction(async (tx) => {
    const inFlight = () =>
      tx.query<{ webhook_id: string; n: number | string; first_expiry: string }>(
        `SELECT webhook_id, COUNT(*) AS n, MIN(lease_until) AS first_expiry FROM deliveries
       WHERE status = 'PENDING' AND lease_until IS NOT NULL GROUP BY webhook_id`,
      );
    let leased = await inFlight();
    const expired = leased.filter((r) => Date.parse(r.first_expiry) <= Date.parse(p.now));
    for (const { webhook_id: webhookId } of expired) {
      // A crashed worker's expired leases: those deliveries wait in their webhook's queue again.
      await tx.execute(
        `UPDATE deliveries SET lease_until = NULL, lease_token = NULL, updated_at = $2
         WHERE webhook_id = $1 AND event_id IN (
           SELECT event_id FROM deliveries WHERE webhook_id = $1 AND status = 'PENDING' AND lease_until IS NOT NULL AND lease_until <= $2${lock})`,
        [webhookId, p.now],
      );
    }
    if (expired.length > 0) {
      leased = await inFlight();
    }
    const busy = new Map(
      leased.map((r) => [r.webhook_id, Math.max(0, Number(r.n) - (p.answered?.get(r.webhook_id) ?? 0))]),
    );
    // Webhooks with waiting deliveries, found by skipping from one webhook id to the next in deliveries_queue;
    // the head of each queue says whether that webhook has something due. Oldest head first.
    const webhooks = await tx.query<QueuedWebhookRow>(
      `WITH RECURSIVE queued (webhook_id) AS (
         SELECT MIN(webhook_id) FROM deliveries WHERE status = 'PENDING' AND lease_until IS NULL
         UNION ALL
         SELECT (SELECT MIN(n.webhook_id) FROM deliveries n WHERE n.status = 'PENDING' AND n.lease_until IS NULL AND n.webhook_id > q.webhook_id)
         FROM queued q WHERE q.webhook_id IS NOT NULL
       )
       SELECT w.id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at
       FROM (SELECT q.webhook_id, (SELECT MIN(h.next_attempt_at) FROM deliveries h
               WHERE h.webhook_id = q.webhook_id AND h.status = 'PENDING' AND h.lease_until IS NULL) AS head
             FROM queued q WHERE q.webhook_id IS NOT NULL) AS qh
       JOIN webhooks w ON w.id = qh.webhook_id
       WHERE w.active = 1 AND qh.head <= $1
       ORDER BY qh.head, w.id`,
      [p.now],
    );
    const taken: { webhook: QueuedWebhookRow; row: LeasedRow }[] = [];
    for (const webhook of webhooks) {
      const take = Math.min(p.perWebhookLimit - (busy.get(webhook.id) ?? 0), p.limit - taken.length);
      if (take <= 0) {
        continue;
      }
      // The pick is a CTE: PostgreSQL runs a locking CTE once, whereas `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`
      // may be run again per row and lease more than n.
      const rows = await tx.query<LeasedRow>(
        `WITH picked AS (
           SELECT d.event_id AS picked_id FROM deliveries d
           WHERE d.webhook_id = $1 AND d.status = 'PENDING' AND d.lease_until IS NULL AND d.next_attempt_at <= $2
             AND NOT EXISTS (
               SELECT 1 FROM deliveries b WHERE b.webhook_id = d.webhook_id AND b.call_id = d.call_id
                 AND b.sequence < d.sequence AND b.status = 'PENDING' AND b.next_attempt_at <= $2)
           ORDER BY d.next_attempt_at
           LIMIT $5${lock})
         UPDATE deliveries SET lease_until = $3, lease_token = $4, updated_at = $2
         FROM picked WHERE deliveries.webhook_id = $1 AND deliveries.event_id = picked.picked_id
         RETURNING event_id, event_type, attempts, created_at`,
        [webhook.id, p.now, p.leaseUntil, p.token, take],
      );
      for (const row of rows) {
        taken.push({ webhook, row });
      }
      if (taken.length >= p.limit) {
        break;
      }
    }
    if (taken.length === 0) {
      return [];
    }
    const payloads = new Map<string, string>();
    for (const e of await tx.query<{ id: string; payload: string }>(
      `SELECT id, payload FROM events WHERE id ${inJsonList(tx, '$1')}`,
      [JSON.stringify(taken.map((t) => t.row.event_id))],
    )) {
      payloads.set(e.id, e.payload);
    }
    return taken.map(({ webhook: w, row: r }) => ({
      webhookId: w.id as WebhookId,
      eventId: r.event_id as EventId,
      eventType: r.event_type,
      attempt: Number(r.attempts) + 1,
      url: w.url,
      secret: w.secret,
      previousSecret: w.previous_secret,
      previousSecretExpiresAt: w.previous_secret_expires_at,
      payload: payloads.get(r.event_id) ?? '',
      createdAt: r.created_at,
      leaseToken: p.token,
    }));
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

/** A log entry as read back: the attempt and the JSON body it delivered (null if the event is gone). */
export interface LoggedAttempt extends AttemptRecord {
  payload: unknown;
  /** When the next try of this delivery is due, on its latest failed attempt while it is still pending. */
  nextAttemptAt: string | null;
}

/** What happens to a delivery after a try. */
export type Settlement = { status: 'SUCCESS' } | { status: 'PENDING'; nextAttemptAt: string } | { status: 'FAILED' };

/** A finished try: its log row and what becomes of its delivery. */
export interface FinishedAttempt {
  attempt: Omit<AttemptRecord, 'id'>;
  token: string;
  settlement: Settlement;
  /** last_error of the delivery (the try's error, or why it was given up). */
  deliveryError: string | null;
}

const ATTEMPT_COLUMNS = [
  ['id', 'text'],
  ['wid', 'text'],
  ['eid', 'text'],
  ['etype', 'text'],
  ['attempt', 'integer'],
  ['st', 'text'],
  ['code', 'integer'],
  ['ms', 'integer'],
  ['err', 'text'],
  ['body', 'text'],
  ['at', 'timestamptz'],
] as const;
const SETTLE_COLUMNS = [
  ['wid', 'text'],
  ['eid', 'text'],
  ['token', 'text'],
  ['st', 'text'],
  ['attempt', 'integer'],
  ['next_at', 'timestamptz'],
  ['code', 'integer'],
  ['err', 'text'],
  ['delivered', 'timestamptz'],
] as const;

/**
 * Writes many finished tries (run it in a transaction): their attempt rows, skipping those of webhooks deleted
 * meanwhile, and the deliveries whose lease `token` still holds. Answers the `webhookId eventId` keys of the
 * deliveries it settled; the others had been replayed, disabled or deleted.
 * PostgreSQL: two statements for the whole batch (one round trip each); SQLite: two cached statements per try,
 * cheaper in-process than decoding a JSON batch.
 */
export async function recordFinishedAttempts(
  tx: Db,
  finished: readonly FinishedAttempt[],
  now: string,
): Promise<Set<string>> {
  const attempts = finished.map(({ attempt: a }) => ({
    id: newAttemptId(),
    wid: a.webhookId,
    eid: a.eventId,
    etype: a.eventType,
    attempt: a.attempt,
    st: a.status,
    code: a.statusCode,
    ms: a.durationMs,
    err: a.error,
    body: a.responseBody,
    at: a.createdAt,
  }));
  const settlements = finished.map((f) => ({
    wid: f.attempt.webhookId,
    eid: f.attempt.eventId,
    token: f.token,
    st: f.settlement.status,
    attempt: f.attempt.attempt,
    next_at: f.settlement.status === 'PENDING' ? f.settlement.nextAttemptAt : null,
    code: f.attempt.statusCode,
    err: f.deliveryError,
    delivered: f.settlement.status === 'SUCCESS' ? now : null,
  }));
  const settled = new Set<string>();
  if (finished.length === 0) {
    return settled;
  }
  if (tx.dialect === 'postgres') {
    await tx.execute(
      `INSERT INTO delivery_attempts (id, webhook_id, event_id, event_type, attempt, status, status_code, duration_ms, error, response_body, created_at)
       SELECT v.id, v.wid, v.eid, v.etype, v.attempt, v.st, v.code, v.ms, v.err, v.body, v.at FROM ${jsonRows('$1', ATTEMPT_COLUMNS)}
       WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = v.wid)`,
      [JSON.stringify(attempts)],
    );
    const rows = await tx.query<{ webhook_id: string; event_id: string }>(
      `UPDATE deliveries AS d SET status = v.st, attempts = v.attempt, next_attempt_at = COALESCE(v.next_at, d.next_attempt_at),
         lease_until = NULL, lease_token = NULL, last_status_code = v.code, last_error = v.err, delivered_at = v.delivered, updated_at = $2
       FROM ${jsonRows('$1', SETTLE_COLUMNS)}
       WHERE d.webhook_id = v.wid AND d.event_id = v.eid AND d.lease_token = v.token AND d.status = 'PENDING'
       RETURNING webhook_id, event_id`,
      [JSON.stringify(settlements), now],
    );
    for (const r of rows) {
      settled.add(`${r.webhook_id} ${r.event_id}`);
    }
    return settled;
  }
  for (const v of attempts) {
    await tx.execute(
      `INSERT INTO delivery_attempts (id, webhook_id, event_id, event_type, attempt, status, status_code, duration_ms, error, response_body, created_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $2)`,
      [v.id, v.wid, v.eid, v.etype, v.attempt, v.st, v.code, v.ms, v.err, v.body, v.at],
    );
  }
  for (const v of settlements) {
    const changed = await tx.execute(
      `UPDATE deliveries SET status = $4, attempts = $5, next_attempt_at = COALESCE($6, next_attempt_at), lease_until = NULL, lease_token = NULL,
         last_status_code = $7, last_error = $8, delivered_at = $9, updated_at = $10
       WHERE webhook_id = $1 AND event_id = $2 AND lease_token = $3 AND status = 'PENDING'`,
      [v.wid, v.eid, v.token, v.st, v.attempt, v.next_at, v.code, v.err, v.delivered, now],
    );
    if (changed > 0) {
      settled.add(`${v.wid} ${v.eid}`);
    }
  }
  return settled;
}

/** The webhook was disabled: nothing more is sent for it, and its pending deliveries say why. */
export async function failPendingDeliveriesOfWebhook(
  db: Db,
  webhookId: WebhookId,
  reason: string,
  now: string,
): Promise<number> {
  return db.execute(
    `UPDATE deliveries SET status = 'FAILED', lease_until = NULL, lease_token = NULL, last_error = $2, updated_at = $3
     WHERE webhook_id = $1 AND status = 'PENDING'`,
    [webhookId, reason, now],
  );
}

/** Gives back leases a stopping worker still holds, so another worker can take them at once. */
export async function releaseLeases(
  db: Db,
  token: string,
  keys: { webhookId: string; eventId: string }[],
  now: string,
): Promise<void> {
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
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
  created_at: string;
  payload: string | null;
  next_attempt_at: string | null;
}

/** The log of one webhook (already found in the caller's scope), newest first, with each delivered body. */
export async function listAttemptsForWebhook(
  db: Db,
  webhookId: WebhookId,
  opts: { limit: number; eventType: string | null },
): Promise<LoggedAttempt[]> {
  const byEvent = opts.eventType === null ? '' : ' AND a.event_type = $3';
  const params = opts.eventType === null ? [webhookId, opts.limit] : [webhookId, opts.limit, opts.eventType];
  const rows = await db.query<AttemptRow>(
    `SELECT a.id, a.webhook_id, a.event_id, a.event_type, a.attempt, a.status, a.status_code, a.duration_ms, a.error,
       a.response_body, a.created_at, e.payload,
       CASE WHEN d.status = 'PENDING' AND d.attempts = a.attempt THEN d.next_attempt_at END AS next_attempt_at
     FROM delivery_attempts a LEFT JOIN events e ON e.id = a.event_id
       LEFT JOIN deliveries d ON d.webhook_id = a.webhook_id AND d.event_id = a.event_id
     WHERE a.webhook_id = $1${byEvent} ORDER BY a.created_at DESC, a.id DESC LIMIT $2`,
    params,
  );
  return rows.map((r) => ({
    payload: r.payload === null ? null : JSON.parse(r.payload),
    nextAttemptAt: r.next_attempt_at ?? null,
    id: r.id,
    webhookId: r.webhook_id as WebhookId,
    eventId: r.event_id as EventId,
    eventType: r.event_type,
    attempt: Number(r.attempt),
    status: r.status as AttemptStatus,
    statusCode: r.status_code === null ? null : Number(r.status_code),
    durationMs: Number(r.duration_ms),
    error: r.error,
    responseBody: r.response_body,
    createdAt: r.created_at,
  }));
}

/** When each webhook was last tried (Pilot's `lastTriggered`); webhooks never tried are absent. */
export async function lastAttemptTimes(db: Db, webhookIds: WebhookId[]): Promise<Map<string, string>> {
  if (webhookIds.length === 0) {
    return new Map();
  }
  const rows = await db.query<{ webhook_id: string; at: string }>(
    `SELECT webhook_id, MAX(created_at) AS at FROM delivery_attempts WHERE webhook_id ${inJsonList(db, '$1')}
     GROUP BY webhook_id`,
    [JSON.stringify(webhookIds)],
  );
  return new Map(rows.map((r) => [r.webhook_id, r.at]));
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

export interface DeliveryRow {
  webhookId: WebhookId;
  eventId: EventId;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  lastStatusCode: number | null;
}

/** Every delivery of a webhook (operations and tests). */
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

/** Not yet delivered, for active webhooks: the backlog gauges. Retries waiting for their time count too. */
export async function deliveryBacklog(
  db: Db,
  now: string,
): Promise<{ size: number; waitingRetries: number; oldestCreatedAt: string | null }> {
  const rows = await db.query<{ n: number | string; waiting: number | string | null; oldest: string | null }>(
    `SELECT COUNT(*) AS n, SUM(CASE WHEN d.attempts > 0 AND d.next_attempt_at > $1 THEN 1 ELSE 0 END) AS waiting,
            MIN(d.created_at) AS oldest
     FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
     WHERE d.status = 'PENDING' AND w.active = 1`,
    [now],
  );
  return {
    size: Number(rows[0]?.n ?? 0),
    waitingRetries: Number(rows[0]?.waiting ?? 0),
    oldestCreatedAt: rows[0]?.oldest ?? null,
  };
}
