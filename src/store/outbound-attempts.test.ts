// An open outbound attempt is a call being placed on its number: a number delete, in another process on the same
// PostgreSQL, either sees it or makes its insert fail. Nothing in memory is shared between the two here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../../test/helpers/build-test-app.ts';
import { createTestStore, storeKinds, type TestStore } from '../../test/helpers/stores.ts';
import { type NumberId, newNumberId, newTenantId, type TenantId } from '../ids.ts';
import { isForeignKeyViolation } from './db.ts';
import { deleteNumberForTenant, insertNumber } from './numbers.ts';
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

    async function number(): Promise<NumberId> {
      const id = newNumberId();
      const now = new Date().toISOString();
      await insertNumber(store.db, {
        id,
        tenantId,
        name: 'n',
        phoneNumber: `+55119${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
        provider: 'META',
        metaPhoneNumberId: null,
        publicConfig: {},
        secretConfig: 'x',
        createdAt: now,
        updatedAt: now,
      });
      return id;
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
