// A process killed right after its handler's commit: the Idempotency-Key answer written once the response is made
// (outside any transaction) never lands; one written in the handler's own transaction does.
import type { Db } from '../../src/store/db.ts';
import type { TestApp } from './build-test-app.ts';

export function responseAnswersLost(inner: Db): Db {
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params, opts) =>
      /^UPDATE idempotency_keys SET state = 'DONE'/.test(sql) ? Promise.resolve(0) : inner.execute(sql, params, opts),
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
}

/** Long after: the lock of the dead request counts as abandoned, and a retry with the key takes it over. */
export async function abandonKey(t: TestApp, key: string): Promise<void> {
  await t.store.db.execute('UPDATE idempotency_keys SET locked_at = $1 WHERE idempotency_key = $2', [
    new Date(Date.now() - 3_600_000).toISOString(),
    key,
  ]);
}
