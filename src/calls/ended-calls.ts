// Counts calls as they end, once their transaction has committed (a rolled-back end is never counted): the
// Db handed to the call services is wrapped so persistTransition can say which calls a transaction ended.

import type { Call } from '../model/call.ts';
import type { Db } from '../store/db.ts';
import { ON_DELIVERIES_QUEUED, type QueueObservedDb } from '../store/notifying-db.ts';
import { type EndObservedDb, ON_CALL_ENDED } from './outbox.ts';

export function endedCallsDb(db: Db, onEnded: (call: Call) => void): Db {
  // Inside a transaction: the inner Db's own hooks (the worker's wake-up) are kept, ours is added.
  const observed = (inner: Db, hook: (call: Call) => void): EndObservedDb & QueueObservedDb => ({
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params, opts) => inner.execute(sql, params, opts),
    transaction: (fn) => inner.transaction((tx) => fn(observed(tx, hook))),
    close: () => inner.close(),
    [ON_DELIVERIES_QUEUED]: (inner as QueueObservedDb)[ON_DELIVERIES_QUEUED],
    [ON_CALL_ENDED]: hook,
  });
  return {
    ...observed(db, onEnded), // outside a transaction each statement commits on its own
    async transaction(fn) {
      const ended: Call[] = [];
      const result = await db.transaction((tx) => fn(observed(tx, (call) => ended.push(call))));
      for (const call of ended) {
        onEnded(call);
      }
      return result;
    },
  };
}
