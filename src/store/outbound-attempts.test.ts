// An open outbound attempt is a call being placed on its number: a number delete, in another process on the same
// PostgreSQL, either sees it or makes its insert fail. Nothing in memory is shared between the two here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { insertBareNumber } from '../../test/helpers/bare-number.ts';
import { eventually } from '../../test/helpers/build-test-app.ts';
import { createTestStore, storeKinds, type TestStore } from '../../test/helpers/stores.ts';
import { type NumberId, newTenantId, type TenantId } from '../ids.ts';
import { type Db, isForeignKeyViolation } from './db.ts';
import { migrate } from './migrate.ts';
import { deleteNumberForTenant } from './numbers.ts';
import { insertOutboundAttempt } from './outbound-attempts.ts';
import { insertTenant } from './tenants.ts';

const LONG_AGO = '2000-01-01T00:00:00.000Z';

for (const kind of storeKinds()) {
  describe(`outbound attempts and number deletes [${kind}]`, () => {
    let store: TestStore;
    const tenantId: TenantId = newTenantId();
    before(async () => {
      store = await createTestStore(kind);
      await insertTenant(store.db, { id: tenantId, name: 'Attempts', createdAt: new Date().toISOString() });
    });
    after(() => store.dispose());

    const number = (): Promise<NumberId> => insertBareNumber(store.db, tenantId);

    test('migration 017 keeps the attempts of numbers still there, and the indexes', async (ctx) => {
      const own = await createTestStore(kind);
      ctx.after(() => own.dispose());
      const { db } = own;
      const at = new Date().toISOString();
      const id = 'num_kept' as NumberId;
      await db.execute(`INSERT INTO tenants (id, name, created_at) VALUES ('ten_kept', 'Kept', $1)`, [at]);
      await db.execute(
        `INSERT INTO numbers (id, tenant_id, name, phone_number, provider, public_config, secret_config, created_at,
           updated_at) VALUES ($1, 'ten_kept', 'n', '+5511900000001', 'META', '{}', 'x', $2, $2)`,
        [id, at],
      );
      await backBefore017(db, kind);
      await db.execute(`INSERT INTO outbound_attempts VALUES ('oat_kept', $1, $2), ('oat_orphan', 'num_gone', $2)`, [
        id,
        at,
      ]);
      assert.deepEqual(await migrate(db), [17]);
      assert.deepEqual(
        (await db.query('SELECT id, number_id, created_at FROM outbound_attempts ORDER BY id')).map((r) => ({
          ...r,
        })),
        [{ id: 'oat_kept', number_id: id, created_at: at }],
      );
      const indexes =
        kind === 'sqlite'
          ? "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbound_attempts' AND sql IS NOT NULL"
          : "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'outbound_attempts' AND indexname <> 'outbound_attempts_pkey'";
      assert.deepEqual(
        (await db.query<{ name: string }>(`${indexes} ORDER BY 1`)).map((r) => r.name),
        ['outbound_attempts_created', 'outbound_attempts_number'],
      );
      await assert.rejects(insertOutboundAttempt(db, 'num_gone' as NumberId, at), isForeignKeyViolation);
    });

    if (kind === 'postgres') {
      test('migration 017 on a store in use: an attempt orphaned while it runs does not fail it', async (ctx) => {
        const own = await createTestStore(kind);
        ctx.after(() => own.dispose());
        const { db } = own;
        await backBefore017(db, kind);
        let orphaning: Promise<unknown> | null = null;
        let settled = false;
        // A process still on the version before, deleting a number (no cascade yet) or placing a call on one being
        // deleted, leaves an attempt without its number just after the migration removed those.
        const racing: Db = {
          dialect: db.dialect,
          query: (sql, params) => db.query(sql, params),
          execute: (sql, params, opts) => db.execute(sql, params, opts),
          close: () => db.close(),
          transaction: (fn) =>
            db.transaction((tx) =>
              fn({
                dialect: tx.dialect,
                close: () => tx.close(),
                transaction: (inner) => tx.transaction(inner),
                query: (sql, params) => tx.query(sql, params),
                async execute(sql, params, opts) {
                  const changed = await tx.execute(sql, params, opts);
                  if (sql.startsWith('DELETE FROM outbound_attempts') && orphaning === null) {
                    orphaning = db
                      .execute(`INSERT INTO outbound_attempts VALUES ('oat_race', 'num_gone_meanwhile', $1)`, [
                        new Date().toISOString(),
                      ])
                      .finally(() => {
                        settled = true;
                      });
                    orphaning.catch(() => undefined);
                    // It commits meanwhile, or waits for the migration's lock.
                    await eventually(
                      async () =>
                        settled ||
                        Number(
                          (
                            await db.query<{ n: string }>(
                              `SELECT COUNT(*) AS n FROM pg_stat_activity
                                WHERE datname = current_database() AND wait_event_type = 'Lock'`,
                            )
                          )[0]?.n,
                        ) > 0,
                      10_000,
                      'the orphan to be written or to wait',
                    );
                  }
                  return changed;
                },
              }),
            ),
        };
        assert.deepEqual(await migrate(racing), [17]);
        // Written after the migration, it is refused by the foreign key it added.
        await assert.rejects(orphaning!, isForeignKeyViolation);
      });
    }

    test('a delete meeting an attempt not yet committed waits for it, and refuses', async () => {
      const id = await number();
      let commit = () => {};
      const committing = new Promise<void>((resolve) => {
        commit = resolve;
      });
      let written = () => {};
      const inserted = new Promise<void>((resolve) => {
        written = resolve;
      });
      // The placing request's insert, its transaction held open (as a slow commit would).
      const placing = store.db.transaction(async (tx) => {
        await insertOutboundAttempt(tx, id, new Date().toISOString());
        written();
        await committing;
      });
      if (kind === 'postgres') {
        await inserted;
      }
      let answered = false;
      const deleting = deleteNumberForTenant(store.db, tenantId, id, { placingSince: LONG_AGO }).finally(() => {
        answered = true;
      });
      if (kind === 'postgres') {
        // The delete is on the number's row, waiting for the insert's key share: or it answered without waiting.
        await eventually(
          async () =>
            answered ||
            Number(
              (
                await store.db.query<{ n: string }>(
                  `SELECT COUNT(*) AS n FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'`,
                )
              )[0]?.n,
            ) > 0,
          10_000,
          'the delete to wait on the number row, or to answer',
        );
      }
      commit();
      await placing;
      assert.deepEqual(await deleting, { liveCallIds: [], callsBeingPlaced: 1 });
    });

    test('an attempt written after the delete committed fails on the number gone', async () => {
      const id = await number();
      assert.ok((await deleteNumberForTenant(store.db, tenantId, id, { placingSince: LONG_AGO })) !== null, 'deleted');
      await assert.rejects(insertOutboundAttempt(store.db, id, new Date().toISOString()), isForeignKeyViolation);
    });

    test('the delete takes the number attempts with it (force=true)', async () => {
      const id = await number();
      await insertOutboundAttempt(store.db, id, new Date().toISOString());
      const deleted = await deleteNumberForTenant(store.db, tenantId, id, {
        withLiveCalls: true,
        placingSince: LONG_AGO,
      });
      assert.ok(deleted && 'publicConfig' in deleted);
      const left = await store.db.query('SELECT id FROM outbound_attempts WHERE number_id = $1', [id]);
      assert.equal(left.length, 0);
    });
  });
}

/** The store as it was before migration 017: outbound_attempts as 015 made it, 017 not recorded. */
async function backBefore017(db: Db, kind: string): Promise<void> {
  await db.execute('DROP TABLE outbound_attempts');
  const sql = readFileSync(join(import.meta.dirname, 'migrations', kind, '015_outbound_attempts.sql'), 'utf8');
  for (const statement of sql
    .split('\n')
    .filter((l) => !l.startsWith('--'))
    .join('\n')
    .split(';')
    .map((x) => x.trim())
    .filter(Boolean)) {
    await db.execute(statement);
  }
  await db.execute('DELETE FROM schema_migrations WHERE version = 17');
}
