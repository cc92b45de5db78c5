// Reading the outbox as a stream, from an opaque cursor, without ever skipping a committed row.
// SQLite: rowid order is commit order (one writer). PostgreSQL: transactions commit out of sequence
// order, so rows are read by (transaction id, sequence) and only for transactions older than the
// oldest one still running: every row that can still appear sorts after the cursor.
import type { Db } from './db.ts';

export interface StreamedEvent {
  cursor: string;
  type: string;
  payload: string;
}
export type StreamScope = { numberId: string } | { tenantId: string };

function scopeClause(scope: StreamScope): [string, string] {
  return 'numberId' in scope ? ['number_id', scope.numberId] : ['tenant_id', scope.tenantId];
}

/** Largest transaction id (xid8, unsigned) and sequence (bigint) PostgreSQL holds. */
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

/** A cursor the store can read from: past its types' range, every read would fail for as long as the stream is open. */
export function isValidCursor(db: Db, cursor: string): boolean {
  if (db.dialect === 'sqlite') {
    return /^\d{1,15}$/.test(cursor);
  }
  const match = /^(\d{1,20})-(\d{1,19})$/.exec(cursor);
  return match !== null && BigInt(match[1] as string) <= MAX_XID8 && BigInt(match[2] as string) <= MAX_BIGINT;
}

export async function readEventsAfter(
  db: Db,
  scope: StreamScope,
  cursor: string,
  limit: number,
): Promise<StreamedEvent[]> {
  const [column, value] = scopeClause(scope);
  if (db.dialect === 'sqlite') {
    const rows = await db.query<{ seq: number; type: string; payload: string }>(
      `SELECT rowid AS seq, type, payload FROM events WHERE ${column} = $1 AND rowid > $2 ORDER BY rowid LIMIT $3`,
      [value, Number(cursor), limit],
    );
    return rows.map((r) => ({ cursor: String(r.seq), type: r.type, payload: r.payload }));
  }
  const [txid, seq] = cursor.split('-');
  const rows = await db.query<{ txid: string; seq: string; type: string; payload: string }>(
    `SELECT txid::text AS txid, seq::text AS seq, type, payload FROM events
      WHERE ${column} = $1 AND (txid, seq) > ($2::xid8, $3::bigint) AND txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY txid, seq LIMIT $4`,
    [value, txid ?? '', seq ?? '', limit],
  );
  return rows.map((r) => ({ cursor: `${r.txid}-${r.seq}`, type: r.type, payload: r.payload }));
}

/** Where a stream without Last-Event-ID starts: after everything recorded so far. */
export async function latestCursor(db: Db, scope: StreamScope): Promise<string> {
  const [column, value] = scopeClause(scope);
  if (db.dialect === 'sqlite') {
    const rows = await db.query<{ seq: number | null }>(`SELECT MAX(rowid) AS seq FROM events WHERE ${column} = $1`, [
      value,
    ]);
    return String(rows[0]?.seq ?? 0);
  }
  // Only rows below the oldest running transaction: a transaction still running with a smaller id commits rows that
  // sort before any later one, and a cursor past them would skip them for good. A few events committed just before the
  // start (by younger transactions) may be streamed then: better than one lost.
  const rows = await db.query<{ txid: string; seq: string }>(
    `SELECT txid::text AS txid, seq::text AS seq FROM events
      WHERE ${column} = $1 AND txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY txid DESC, seq DESC LIMIT 1`,
    [value],
  );
  return rows[0] ? `${rows[0].txid}-${rows[0].seq}` : '0-0';
}
