import type { CallId } from '../ids.ts';
import type { Db } from './db.ts';

/** One line of a call's timeline: a provider event received or an API action taken. */
export interface TimelineEntry {
  sequence: number;
  source: 'provider' | 'api' | 'system';
  type: string;
  detail: Record<string, unknown>;
  at: string;
}

/** Appends in the caller's transaction, which holds the call's row (or the SQLite write lock). */
export async function appendTimeline(tx: Db, callId: CallId, entry: Omit<TimelineEntry, 'sequence'>): Promise<void> {
  await tx.execute(
    `INSERT INTO call_timeline (call_id, sequence, source, type, detail, at)
      SELECT $1, COALESCE(MAX(sequence), 0) + 1, $2, $3, $4, $5 FROM call_timeline WHERE call_id = $1`,
    [callId, entry.source, entry.type, JSON.stringify(entry.detail), entry.at],
  );
}

export async function listTimeline(db: Db, callId: CallId): Promise<TimelineEntry[]> {
  const rows = await db.query<{ sequence: number; source: string; type: string; detail: string; at: string }>(
    'SELECT sequence, source, type, detail, at FROM call_timeline WHERE call_id = $1 ORDER BY sequence',
    [callId],
  );
  return rows.map((r) => ({
    sequence: Number(r.sequence),
    source: r.source as TimelineEntry['source'],
    type: r.type,
    detail: JSON.parse(r.detail),
    at: r.at,
  }));
}

/**
 * Marks the call's latest API ending action (reject or terminate) as confirmed by the provider: its
 * `providerConfirmed: false` becomes true. Runs in the transaction that applies the provider's end event.
 */
export async function confirmTimelineAction(tx: Db, callId: CallId): Promise<void> {
  const rows = await tx.query<{ sequence: number; detail: string }>(
    `SELECT sequence, detail FROM call_timeline WHERE call_id = $1 AND source = 'api' AND type IN ('reject', 'terminate')
      ORDER BY sequence DESC LIMIT 1`,
    [callId],
  );
  const row = rows[0];
  if (!row) {
    return;
  }
  const detail = { ...JSON.parse(row.detail), providerConfirmed: true };
  await tx.execute('UPDATE call_timeline SET detail = $3 WHERE call_id = $1 AND sequence = $2', [
    callId,
    row.sequence,
    JSON.stringify(detail),
  ]);
}
