// JSON array parameters: one statement takes a whole batch, on both engines.
import type { Db } from './db.ts';

/** PostgreSQL: the rows of a JSON array parameter as a table `v`, so one statement writes a whole batch. */
export function jsonRows(
  param: string,
  columns: readonly (readonly [string, 'text' | 'integer' | 'timestamptz'])[],
): string {
  return `jsonb_to_recordset(${param}::jsonb) AS v(${columns.map(([n, t]) => `${n} ${t}`).join(', ')})`;
}

/** `IN (...)` over a JSON array parameter of strings. */
export function inJsonList(db: Db, param: string): string {
  return db.dialect === 'postgres'
    ? `IN (SELECT jsonb_array_elements_text(${param}::jsonb))`
    : `IN (SELECT value FROM json_each(${param}))`;
}
