// Counts for the metrics: calls not yet ended, by provider and status. Read at scrape time, so every process
// reports the whole store's calls, whichever process took them; the partial indexes on active statuses keep it
// to the calls in progress.
import type { Db } from './db.ts';

export interface ActiveCallCount {
  provider: string;
  status: string;
  count: number;
}

export async function countActiveCalls(db: Db): Promise<ActiveCallCount[]> {
  const rows = await db.query<{ provider: string; status: string; n: number | string }>(
    `SELECT n.provider, c.status, COUNT(*) AS n FROM calls c JOIN numbers n ON n.id = c.number_id
     WHERE c.status IN ('INITIATED', 'RINGING', 'ACCEPTED') GROUP BY n.provider, c.status`,
  );
  return rows.map((r) => ({ provider: r.provider, status: r.status, count: Number(r.n) }));
}
