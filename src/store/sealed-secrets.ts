// Every value sealed with SECRET_KEY, and re-sealing them under a new one (`callgate secret-key rotate`).
import type { SecretBox } from '../auth/secret-box.ts';
import type { Db, SqlValue } from './db.ts';

interface SealedColumn {
  /** How the report names it. */
  name: 'numbers' | 'webhooks' | 'webhookPreviousSecrets' | 'idempotencyKeys';
  table: string;
  keys: readonly string[];
  column: string;
}

const SEALED: readonly SealedColumn[] = [
  { name: 'numbers', table: 'numbers', keys: ['id'], column: 'secret_config' },
  { name: 'webhooks', table: 'webhooks', keys: ['id'], column: 'secret' },
  { name: 'webhookPreviousSecrets', table: 'webhooks', keys: ['id'], column: 'previous_secret' },
  // Stored answers of Idempotency-Key requests (kept 24 h); those stored in clear before sealing are left so.
  { name: 'idempotencyKeys', table: 'idempotency_keys', keys: ['scope', 'idempotency_key'], column: 'response_body' },
];

const PAGE = 500;

export interface ResealReport {
  resealed: Record<SealedColumn['name'], number>;
  alreadyCurrent: number;
  /** Sealed by neither key: named by table and row, never by value. */
  unreadable: string[];
}

/**
 * Re-seals, under the box's current key, every value its previous key sealed. Row by row and compare-and-set: a
 * value changed meanwhile (a webhook's secret rotated) is left to its writer, who sealed it with its own key, so
 * a second run (after every process has the new key) finishes the job; running it again is harmless. When any
 * value opens with neither key nothing is written (a mistyped key would otherwise seal the rest under a key no
 * process has), unless `force`. `dryRun` writes nothing and counts what would be re-sealed.
 */
export async function resealAll(
  db: Db,
  box: SecretBox,
  opts: { force?: boolean; dryRun?: boolean } = {},
): Promise<ResealReport> {
  const check = opts.dryRun || !opts.force ? await walk(db, box, false) : null;
  // Refused: a dry run counts what the run would do, which is nothing.
  if (check && !opts.force && check.unreadable.length > 0) {
    return { ...check, resealed: noneResealed() };
  }
  return check && opts.dryRun ? check : walk(db, box, true);
}

export const noneResealed = (): ResealReport['resealed'] => ({
  numbers: 0,
  webhooks: 0,
  webhookPreviousSecrets: 0,
  idempotencyKeys: 0,
});

/** One pass over every sealed value; `write` false only reads (its report counts what a write would re-seal). */
async function walk(db: Db, box: SecretBox, write: boolean): Promise<ResealReport> {
  const report: ResealReport = {
    resealed: noneResealed(),
    alreadyCurrent: 0,
    unreadable: [],
  };
  for (const sealed of SEALED) {
    for await (const row of rowsOf(db, sealed)) {
      const value = row[sealed.column];
      if (typeof value !== 'string' || !value.startsWith('v1:')) {
        continue;
      }
      if (box.isCurrent(value)) {
        report.alreadyCurrent++;
        continue;
      }
      let plain: string;
      try {
        plain = box.open(value);
      } catch {
        report.unreadable.push(`${sealed.table} ${sealed.keys.map((k) => row[k]).join('/')} (${sealed.column})`);
        continue;
      }
      if (!write) {
        report.resealed[sealed.name]++;
        continue;
      }
      const where = sealed.keys.map((k, i) => `${k} = $${i + 3}`).join(' AND ');
      const changed = await db.execute(
        `UPDATE ${sealed.table} SET ${sealed.column} = $1 WHERE ${sealed.column} = $2 AND ${where}`,
        [box.seal(plain), value, ...sealed.keys.map((k) => row[k] as SqlValue)],
      );
      report.resealed[sealed.name] += changed;
    }
  }
  return report;
}

/**
 * The first number whose provider credentials the box opens with none of its keys, or null. Every number is
 * tried: while SECRET_KEY is replaced the store holds both keys' seals, so the newest alone proves nothing.
 */
export async function firstUnreadableCredentials(db: Db, box: SecretBox): Promise<string | null> {
  const numbers = SEALED[0] as SealedColumn;
  for await (const row of rowsOf(db, numbers)) {
    try {
      box.open(String(row.secret_config));
    } catch {
      return String(row.id);
    }
  }
  return null;
}

/** The column's rows in key order, a page at a time (keyset: stable while rows are updated). */
async function* rowsOf(db: Db, sealed: SealedColumn): AsyncGenerator<Record<string, SqlValue>> {
  const keys = sealed.keys.join(', ');
  const columns = `${keys}, ${sealed.column}`;
  let after: SqlValue[] | null = null;
  for (;;) {
    const params: SqlValue[] = after ?? [];
    const placeholders = sealed.keys.map((_, i) => `$${i + 1}`).join(', ');
    const from = after === null ? '' : `WHERE (${keys}) > (${placeholders}) `;
    const rows: Record<string, SqlValue>[] = await db.query<Record<string, SqlValue>>(
      `SELECT ${columns} FROM ${sealed.table} ${from}ORDER BY ${keys} LIMIT ${PAGE}`,
      params,
    );
    yield* rows;
    if (rows.length < PAGE) {
      return;
    }
    const last = rows[rows.length - 1] as Record<string, SqlValue>;
    after = sealed.keys.map((k) => last[k] as SqlValue);
  }
}
