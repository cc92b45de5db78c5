// A worker's batch of finished tries, recorded in one transaction: attempt rows, settled deliveries, and what a
// 410 turns off. The order of locks is the point of keeping it together (lockWebhooks).
import type { WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { failPendingDeliveriesOfWebhook, failRetriesOfDisabledWebhook } from './deliveries.ts';
import { type FinishedAttempt, recordFinishedAttempts } from './delivery-attempts.ts';
import { disableWebhook } from './webhooks.ts';

export interface SettledTry {
  record: FinishedAttempt;
  /** The receiver answered 410 Gone: the webhook is turned off as `goneReason`. */
  gone: boolean;
}

/**
 * Records the batch (run it in a transaction) and answers the `webhookId eventId` keys it settled
 * (recordFinishedAttempts). A 410 turns its webhook off and fails what it had pending; tries of a webhook another
 * try's 410 turned off settle by their own answer, and those that would be tried again fail instead.
 */
export async function settleTries(
  tx: Db,
  batch: readonly SettledTry[],
  goneReason: string,
  now: string,
): Promise<Set<string>> {
  const gone = new Set(batch.filter((t) => t.gone).map((t) => t.record.attempt.webhookId));
  const retried = new Set(
    batch
      .filter((t) => t.record.settlement.status === 'PENDING')
      .map((t) => t.record.attempt.webhookId)
      .filter((id) => !gone.has(id)),
  );
  await lockWebhooks(tx, gone, retried);
  const settled = await recordFinishedAttempts(
    tx,
    batch.map((t) => t.record),
    now,
  );
  for (const webhookId of gone) {
    await disableWebhook(tx, webhookId, goneReason, now);
    await failPendingDeliveriesOfWebhook(tx, webhookId, `webhook disabled: ${goneReason}`, now);
  }
  for (const webhookId of retried) {
    await failRetriesOfDisabledWebhook(tx, webhookId, goneReason, now);
  }
  return settled;
}

/**
 * Locks the webhooks a batch of finished tries will change or check, before any of their delivery rows and in id
 * order, so two workers recording at once wait for each other instead of deadlocking: one recording a 410 for W1
 * while retrying a try of W2, the other the reverse, would each hold the webhook the other reads FOR SHARE
 * (PostgreSQL then aborts one batch, whose tries are sent again). `gone` rows are about to be updated, so they
 * are taken in the update's own mode up front (a share lock upgraded later could deadlock too). SQLite has one
 * writer at a time: nothing to order.
 */
async function lockWebhooks(tx: Db, gone: ReadonlySet<WebhookId>, retried: ReadonlySet<WebhookId>): Promise<void> {
  if (tx.dialect !== 'postgres') {
    return;
  }
  for (const id of [...new Set([...gone, ...retried])].sort()) {
    const mode = gone.has(id) ? 'NO KEY UPDATE' : 'SHARE';
    await tx.query(`SELECT 1 FROM webhooks WHERE id = $1 FOR ${mode}`, [id]);
  }
}
