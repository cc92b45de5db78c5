// The in-process worker's wake-up. The Db the services write through is wrapped so that a committed transaction
// that queued deliveries calls `onQueued`: a new event is sent without waiting for the next poll, a rolled-back
// transaction wakes nobody, and commits that queued nothing cost the worker nothing.
import type { Db } from './db.ts';

/** The hook a wrapped Db carries into its transactions; other Db wrappers pass it on to keep the wake-up. */
export const ON_DELIVERIES_QUEUED: unique symbol = Symbol('onDeliveriesQueued');
export type QueueObservedDb = Db & { [ON_DELIVERIES_QUEUED]?: () => void };

/** Said by enqueueDeliveries when it made deliveries; a Db that is not wrapped ignores it. */
export function noteDeliveriesQueued(tx: Db): void {
  (tx as QueueObservedDb)[ON_DELIVERIES_QUEUED]?.();
}

/** `db`, calling `onQueued` after each commit that queued deliveries. */
export function notifyingDb(db: Db, onQueued: () => void): Db {
  const observed = (inner: Db, hook: () => void): QueueObservedDb => ({
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params, opts) => inner.execute(sql, params, opts),
    transaction: (fn) => inner.transaction((tx) => fn(observed(tx, hook))),
    close: () => inner.close(),
    [ON_DELIVERIES_QUEUED]: hook,
  });
  return {
    ...observed(db, onQueued), // outside a transaction each statement commits on its own
    async transaction(fn) {
      let queued = false;
      const result = await db.transaction((tx) =>
        fn(
          observed(tx, () => {
            queued = true;
          }),
        ),
      );
      if (queued) {
        onQueued();
      }
      return result;
    },
  };
}
