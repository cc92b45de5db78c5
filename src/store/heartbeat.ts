import type { Db } from './db.ts';

/** The readiness write probe: one tiny UPDATE, durable like any acknowledged write. */
export async function writeHeartbeat(db: Db, now: string): Promise<void> {
  await db.execute('UPDATE store_heartbeat SET beats = beats + 1, beat_at = $1 WHERE id = 1', [now]);
}
