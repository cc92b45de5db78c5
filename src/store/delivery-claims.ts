// The worker's claim: due deliveries leased to one worker, in per-call order, with a per-webhook cap.
import type { EventId, WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { subscribes, UNSUBSCRIBED } from './deliveries.ts';
import { inJsonList } from './json-params.ts';

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
  events: string;
}
interface LeasedRow {
  event_id: string;
  event_type: string;
  attempts: number;
  created_at: string;
}

/**
 * A side event (call.dtmf, call.recording_ready) shares the sequence of the call's last numbered event while the call
 * is live (calls/outbox.ts persistCallSideEvent): it waits for that event too, so a key never overtakes the
 * call.connected before it.
 */
const SIDE_TYPES = "'call.dtmf', 'call.recording_ready'";
const SIDE_AFTER_NUMBERED = `d.event_type IN (${SIDE_TYPES}) AND b.event_type NOT IN (${SIDE_TYPES})`;

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
      `SELECT 1 AS due FROM deliveries d WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1
         AND (d.lease_until IS NULL OR d.lease_until <= $1)
         AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.active = 1) LIMIT 1`,
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
       SELECT w.id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at, w.events
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
                 AND (b.sequence < d.sequence OR (b.sequence = d.sequence AND ${SIDE_AFTER_NUMBERED}))
                 AND b.status = 'PENDING' AND b.next_attempt_at <= $2)
           ORDER BY d.next_attempt_at
           LIMIT $5${lock})
         UPDATE deliveries SET lease_until = $3, lease_token = $4, updated_at = $2
         FROM picked WHERE deliveries.webhook_id = $1 AND deliveries.event_id = picked.picked_id
         RETURNING event_id, event_type, attempts, created_at`,
        [webhook.id, p.now, p.leaseUntil, p.token, take],
      );
      // A type the webhook stopped subscribing to while a try of it was under way (that try failed and was put back
      // for a retry) or while its fan-out was committing: it fails here rather than going out again.
      const events: string[] = JSON.parse(webhook.events);
      const dropped = rows.filter((r) => !subscribes(events, r.event_type)).map((r) => r.event_id);
      if (dropped.length > 0) {
        await tx.execute(
          `UPDATE deliveries SET status = 'FAILED', lease_until = NULL, lease_token = NULL, last_error = $3, updated_at = $2
           WHERE webhook_id = $1 AND event_id ${inJsonList(tx, '$4')}`,
          [webhook.id, p.now, UNSUBSCRIBED, JSON.stringify(dropped)],
        );
      }
      for (const row of rows) {
        if (!dropped.includes(row.event_id)) {
          taken.push({ webhook, row });
        }
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
