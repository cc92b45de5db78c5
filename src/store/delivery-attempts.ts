// The attempt log: one row per HTTP try, written with the outcome of its delivery, and read back as the
// webhook's logs (what users read when something goes wrong).
import { type EventId, newAttemptId, type WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { HELD_UNTIL } from './deliveries.ts';
import { inJsonList, jsonRows } from './json-params.ts';

export type AttemptStatus = 'SUCCESS' | 'FAILED';

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
 * A receiver's answer is any bytes, NUL included, and PostgreSQL's text cannot hold NUL (nor can its JSON decode
 * \u0000): written as is, the batch fails, the try is never recorded and its delivery is sent again and again.
 * Each NUL is kept as U+FFFD, on every store alike.
 */
function storable(text: string | null): string | null {
  return text?.includes('\u0000') ? text.replaceAll('\u0000', '\ufffd') : text;
}

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
    err: storable(a.error),
    body: storable(a.responseBody),
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
    err: storable(f.deliveryError),
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
  // A held delivery (its webhook paused) has no next try to show.
  const held = `$${params.length + 1}`;
  params.push(HELD_UNTIL);
  const rows = await db.query<AttemptRow>(
    `SELECT a.id, a.webhook_id, a.event_id, a.event_type, a.attempt, a.status, a.status_code, a.duration_ms, a.error,
       a.response_body, a.created_at, e.payload,
       CASE WHEN d.status = 'PENDING' AND d.attempts = a.attempt AND d.next_attempt_at <> ${held}
         THEN d.next_attempt_at END AS next_attempt_at
     FROM delivery_attempts a LEFT JOIN events e ON e.id = a.event_id
       LEFT JOIN deliveries d ON d.webhook_id = a.webhook_id AND d.event_id = a.event_id
     WHERE a.webhook_id = $1${byEvent} ORDER BY a.created_at DESC, a.id DESC LIMIT $2`,
    params,
  );
  // Only a delivery's latest try shows its next one: after a replay (attempts start again from 1) an earlier round's
  // try of the same number is not what goes next. Newest first, so the latest is the first of its event met here.
  const seen = new Set<string>();
  return rows.map((r) => {
    const latest = !seen.has(r.event_id);
    seen.add(r.event_id);
    return {
      payload: r.payload === null ? null : JSON.parse(r.payload),
      nextAttemptAt: latest ? (r.next_attempt_at ?? null) : null,
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
    };
  });
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
