// The webhook log does not grow without bound: attempts and finished deliveries older than the retention are
// deleted, oldest first, a bounded batch per statement (short transactions, whatever the backlog). Events stay —
// they are the calls' history and what a replay sends again — and so does everything of a delivery still pending,
// whatever its age. The conditions are checked again on the rows deleted: on PostgreSQL a replay may make a
// delivery pending between the subquery's snapshot and the delete, and only the outer WHERE is re-checked then.
import type { Db } from './db.ts';

/** Deletes up to `limit` attempts and up to `limit` finished deliveries from before `before` (ISO time). */
export async function pruneDeliveryLog(
  db: Db,
  before: string,
  limit: number,
): Promise<{ attempts: number; deliveries: number }> {
  const attempts = await db.execute(
    `DELETE FROM delivery_attempts WHERE id IN (
       SELECT a.id FROM delivery_attempts a
       WHERE a.created_at < $1 AND NOT EXISTS (
         SELECT 1 FROM deliveries d
         WHERE d.webhook_id = a.webhook_id AND d.event_id = a.event_id AND d.status = 'PENDING')
       ORDER BY a.created_at
       LIMIT $2)
     AND NOT EXISTS (
       SELECT 1 FROM deliveries d
       WHERE d.webhook_id = delivery_attempts.webhook_id AND d.event_id = delivery_attempts.event_id
         AND d.status = 'PENDING')`,
    [before, limit],
  );
  const deliveries = await db.execute(
    `DELETE FROM deliveries WHERE (webhook_id, event_id) IN (
       SELECT webhook_id, event_id FROM deliveries
       WHERE status <> 'PENDING' AND updated_at < $1
       ORDER BY updated_at
       LIMIT $2)
     AND status <> 'PENDING' AND updated_at < $1`,
    [before, limit],
  );
  return { attempts, deliveries };
}
