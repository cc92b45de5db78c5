// Forces an interleaving around an action-slot claim (the store's atomic UPDATE of a call's `action_id`): a test
// runs something once, just before or just after the next claim of a given kind.
import type { Db } from '../../src/store/db.ts';

export type ClaimHook = { kind: string; run: () => Promise<void>; after?: true } | null;

/** The store with `hook.next` run once around the next claim of its kind; the hook is cleared as it runs. */
export function aroundNextClaim(inner: Db, hook: { next: ClaimHook }): Db {
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    async execute(sql, params, opts) {
      const next = hook.next;
      if (!next || !sql.includes('SET action_id = $2') || params?.[2] !== next.kind) {
        return inner.execute(sql, params, opts);
      }
      hook.next = null;
      if (!next.after) {
        await next.run();
        return inner.execute(sql, params, opts);
      }
      const changed = await inner.execute(sql, params, opts);
      await next.run();
      return changed;
    },
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
}
