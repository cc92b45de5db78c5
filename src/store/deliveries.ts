// Delivery rows: one per webhook and event. The fan-out runs in the caller's transaction, so an event that
// commits always has its deliveries; replay requeues one, a disabled webhook fails its pending ones. The worker's
// claim is in delivery-claims.ts, the attempt log in delivery-attempts.ts.
import type { CallId, EventId, NumberId, WebhookId } from '../ids.ts';
import { type Db, isForeignKeyViolation } from './db.ts';
import { noteDeliveriesQueued } from './notifying-db.ts';
import { listReceivingWebhooksForNumber } from './webhooks.ts';

export type DeliveryStatus = 'PENDING' | 'SUCCESS' | 'FAILED';

/** The part of an outbox event the fan-out needs. */
export interface FanOutEvent {
  id: EventId;
  numberId: NumberId;
  type: string;
  callId: CallId | null;
  sequence: number | null;
  createdAt: string;
}

export function subscribes(events: readonly string[], type: string): boolean {
  return events.includes('*') || events.includes(type);
}

/**
 * `next_attempt_at` of a paused webhook's waiting delivery: never due (no poll or claim sees it) until the webhook is
 * resumed, when it becomes due at its event's own time again (releaseHeldDeliveries).
 */
export const HELD_UNTIL = '9999-12-31T23:59:59.999Z';

/**
 * One PENDING delivery per receiving webhook of the event's number subscribed to its type: due at once, or held
 * while the webhook is paused. Must run in the transaction that inserts the event. Answers how many it made.
 */
export async function enqueueDeliveries(tx: Db, event: FanOutEvent): Promise<number> {
  let made = 0;
  let due = false;
  for (const webhook of await listReceivingWebhooksForNumber(tx, event.numberId, { lock: true })) {
    if (!subscribes(webhook.events, event.type)) {
      continue;
    }
    await tx.execute(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, call_id, sequence, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $7, $7)`,
      [
        webhook.id,
        event.id,
        event.type,
        event.callId,
        event.sequence,
        webhook.active ? event.createdAt : HELD_UNTIL,
        event.createdAt,
      ],
    );
    made += 1;
    due ||= webhook.active;
  }
  if (due) {
    noteDeliveriesQueued(tx); // the in-process worker's wake-up, after the commit
  }
  return made;
}

/** The webhook was paused: its waiting deliveries are held until it is resumed (a leased one finishes its try). */
export async function holdDeliveriesOfWebhook(db: Db, webhookId: WebhookId, now: string): Promise<number> {
  return db.execute(
    `UPDATE deliveries SET next_attempt_at = $2, updated_at = $3
     WHERE webhook_id = $1 AND status = 'PENDING' AND lease_until IS NULL`,
    [webhookId, HELD_UNTIL, now],
  );
}

const HELD_TOO_LONG = 'held while the webhook was paused for longer than the retry schedule';

/**
 * The webhook was resumed: its held deliveries are due again at their events' own times, so they go out first and
 * in order; those held since before `expiredBefore` (holdSpanMs ago; a row's updated_at is when it was held) fail.
 */
export async function releaseHeldDeliveries(
  db: Db,
  webhookId: WebhookId,
  now: string,
  expiredBefore: string,
): Promise<{ released: number; expired: number }> {
  const expired = await db.execute(
    `UPDATE deliveries SET status = 'FAILED', last_error = $4, updated_at = $2
     WHERE webhook_id = $1 AND status = 'PENDING' AND next_attempt_at = $5 AND updated_at < $3`,
    [webhookId, now, expiredBefore, HELD_TOO_LONG, HELD_UNTIL],
  );
  const released = await db.execute(
    `UPDATE deliveries SET next_attempt_at = created_at, updated_at = $2
     WHERE webhook_id = $1 AND status = 'PENDING' AND next_attempt_at = $3`,
    [webhookId, now, HELD_UNTIL],
  );
  return { released, expired };
}

/**
 * The sweeper's pass over held deliveries. Held since before `expiredBefore`, they fail: a webhook paused for good does
 * not keep them all. Races can leave a row on the wrong side (an event fanned out while its webhook was resumed, a
 * try that failed after the pause): held rows of an active webhook are released, due rows of a paused one are held.
 */
export async function reconcileHeldDeliveries(
  db: Db,
  expiredBefore: string,
  now: string,
): Promise<{ expired: number; released: number; held: number }> {
  const expired = await db.execute(
    `UPDATE deliveries SET status = 'FAILED', last_error = $3, updated_at = $2
     WHERE status = 'PENDING' AND next_attempt_at = $4 AND updated_at < $1`,
    [expiredBefore, now, HELD_TOO_LONG, HELD_UNTIL],
  );
  const released = await db.execute(
    `UPDATE deliveries SET next_attempt_at = created_at, updated_at = $1
     WHERE status = 'PENDING' AND next_attempt_at = $2
       AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = deliveries.webhook_id AND w.active = 1)`,
    [now, HELD_UNTIL],
  );
  const held = await db.execute(
    `UPDATE deliveries SET next_attempt_at = $2, updated_at = $1
     WHERE status = 'PENDING' AND next_attempt_at <= $1 AND lease_until IS NULL
       AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = deliveries.webhook_id AND w.active = 0 AND w.disabled_reason IS NULL)`,
    [now, HELD_UNTIL],
  );
  return { expired, released, held };
}

/**
 * The webhook was disabled: nothing more is sent for it, and its pending deliveries say why. A try under way (its
 * lease still holds) settles by its own answer, so a 2xx stays a success; if it must be tried again,
 * failRetriesOfDisabledWebhook fails it then.
 */
export async function failPendingDeliveriesOfWebhook(
  db: Db,
  webhookId: WebhookId,
  reason: string,
  now: string,
): Promise<number> {
  return db.execute(
    `UPDATE deliveries SET status = 'FAILED', lease_until = NULL, lease_token = NULL, last_error = $2, updated_at = $3
     WHERE webhook_id = $1 AND status = 'PENDING' AND (lease_until IS NULL OR lease_until <= $3)`,
    [webhookId, reason, now],
  );
}

/**
 * Tries that ended wanting another, for a webhook disabled as `reason` while they ran: they fail like the rest. On
 * PostgreSQL the webhook row is read FOR SHARE: a 410 being recorded by another worker (it updates that row) is
 * waited for, else both would miss this retry (its failPendingDeliveriesOfWebhook skipped the row still leased, and
 * this read saw the webhook still active). The other order is safe: that worker's next statement sees this commit.
 */
export async function failRetriesOfDisabledWebhook(
  tx: Db,
  webhookId: WebhookId,
  reason: string,
  now: string,
): Promise<number> {
  const lock = tx.dialect === 'postgres' ? ' FOR SHARE' : '';
  const [webhook] = await tx.query<{ active: number; disabled_reason: string | null }>(
    `SELECT active, disabled_reason FROM webhooks WHERE id = $1${lock}`,
    [webhookId],
  );
  if (!webhook || Number(webhook.active) !== 0 || webhook.disabled_reason !== reason) {
    return 0;
  }
  return tx.execute(
    `UPDATE deliveries SET status = 'FAILED', last_error = $2, updated_at = $3
     WHERE webhook_id = $1 AND status = 'PENDING' AND lease_until IS NULL`,
    [webhookId, `webhook disabled: ${reason}`, now],
  );
}

/**
 * The sweeper's pass for webhooks a 410 disabled: what still waits for one fails like the rest did. A try under way
 * when the 410 was recorded was left to its own answer; if its worker died, nobody records that answer, and once its
 * lease is over the row would stay PENDING for good (no claim takes a disabled webhook's rows). A held row is a
 * replay asked for since (the customer fixed the receiver): it waits for `PATCH {active:true}` like a paused
 * webhook's, and fails only when held too long (reconcileHeldDeliveries).
 */
export async function failDeliveriesOfGoneWebhooks(db: Db, now: string): Promise<number> {
  return db.execute(
    `UPDATE deliveries SET status = 'FAILED', lease_until = NULL, lease_token = NULL, updated_at = $1,
       last_error = 'webhook disabled: ' || (SELECT w.disabled_reason FROM webhooks w WHERE w.id = deliveries.webhook_id)
     WHERE status = 'PENDING' AND (lease_until IS NULL OR lease_until <= $1) AND next_attempt_at <> $2
       AND webhook_id IN (SELECT w.id FROM webhooks w WHERE w.active = 0 AND w.disabled_reason IS NOT NULL)`,
    [now, HELD_UNTIL],
  );
}

/** Why a delivery of a type its webhook no longer subscribes to was not sent. */
export const UNSUBSCRIBED = 'the webhook no longer subscribes to this event';

/**
 * The webhook's events were changed: what waits for a type it no longer subscribes to is not sent (a try under way
 * finishes; put back for a retry, the claim fails it). Placeholders per type: the list is the customer's, at most a
 * few dozen names.
 */
export async function failUnsubscribedDeliveries(
  db: Db,
  webhookId: WebhookId,
  events: readonly string[],
  now: string,
): Promise<number> {
  if (events.includes('*')) {
    return 0;
  }
  const kept = events.map((_, i) => `$${i + 4}`).join(', ');
  return db.execute(
    `UPDATE deliveries SET status = 'FAILED', last_error = $3, updated_at = $2
     WHERE webhook_id = $1 AND status = 'PENDING' AND (lease_until IS NULL OR lease_until <= $2)${
       events.length > 0 ? ` AND event_type NOT IN (${kept})` : ''
     }`,
    [webhookId, now, UNSUBSCRIBED, ...events],
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
/**
 * Queues the event for the webhook again from its first attempt. false: the webhook is gone (deleted since it was
 * read): nothing is queued, and the replay is a 404 rather than a foreign key's 500.
 */
export async function requeueDelivery(
  db: Db,
  e: { webhookId: WebhookId; eventId: EventId; eventType: string; callId: CallId | null; sequence: number | null },
  now: string,
): Promise<boolean> {
  try {
    const queued = await db.execute(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, call_id, sequence, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT w.id, $2, $3, $4, $5, 'PENDING', 0, $6, $6, $6 FROM webhooks w WHERE w.id = $1
       ON CONFLICT (webhook_id, event_id) DO UPDATE SET status = 'PENDING', attempts = 0, next_attempt_at = $6, lease_until = NULL,
         lease_token = NULL, last_status_code = NULL, last_error = NULL, delivered_at = NULL, updated_at = $6`,
      [e.webhookId, e.eventId, e.eventType, e.callId, e.sequence, now],
    );
    return queued > 0;
  } catch (error) {
    // PostgreSQL: deleted after this statement's snapshot, before its foreign-key check.
    if (isForeignKeyViolation(error)) {
      return false;
    }
    throw error;
  }
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
