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

/** Whether the call's timeline already has an entry of this source and type (a replayed event adds none). */
export async function hasTimelineEntry(
  tx: Db,
  callId: CallId,
  source: TimelineEntry['source'],
  type: string,
): Promise<boolean> {
  const rows = await tx.query(
    'SELECT 1 AS found FROM call_timeline WHERE call_id = $1 AND source = $2 AND type = $3 LIMIT 1',
    [callId, source, type],
  );
  return rows.length > 0;
}

/**
 * Whether our last hang-up of the call (terminate) got no answer from the provider at or after `since`, so the
 * provider may have carried it out: an end reported since then is ours (BUSINESS), not the peer's.
 */
export async function hasUncertainHangUpSince(db: Db, callId: CallId, since: string): Promise<boolean> {
  const rows = await db.query<{ detail: string; at: string }>(
    `SELECT detail, at FROM call_timeline WHERE call_id = $1 AND source = 'api' AND type = 'terminate'
      ORDER BY sequence DESC LIMIT 1`,
    [callId],
  );
  const last = rows[0];
  return (
    last !== undefined && last.at >= since && (JSON.parse(last.detail) as { outcome?: string }).outcome === 'unknown'
  );
}

/**
 * Whether our last accept of the call got no answer from the provider, which may have connected it: the provider may
 * hold the call answered while we still have it ringing.
 */
export async function hasUncertainAccept(db: Db, callId: CallId): Promise<boolean> {
  const rows = await db.query<{ detail: string }>(
    `SELECT detail FROM call_timeline WHERE call_id = $1 AND source = 'api' AND type = 'accept'
      ORDER BY sequence DESC LIMIT 1`,
    [callId],
  );
  if (!rows[0]) {
    return false;
  }
  // acceptOutcome: an accept sent after a pre-accept (server media), whose entry's outcome is the pre-accept's.
  const detail = JSON.parse(rows[0].detail) as { outcome?: string; acceptOutcome?: string };
  return detail.outcome === 'unknown' || detail.acceptOutcome === 'unknown';
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
