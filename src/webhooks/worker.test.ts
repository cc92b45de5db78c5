// The worker's wake-up: a commit through notifyingDb that queued deliveries sends them at once, not at the next
// poll; commits that queued nothing do not wake it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { emitEvents, startTestWorker, verifyWith, workerConfig } from '../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.ts';
import { createTestStore, storeKinds, TEST_SECRET_KEY, type TestStore } from '../../test/helpers/stores.ts';
import { SecretBox } from '../auth/secret-box.ts';
import { newNumberId, newTenantId, newWebhookId } from '../ids.ts';
import { notifyingDb } from '../store/notifying-db.ts';
import { insertNumber } from '../store/numbers.ts';
import { insertTenant } from '../store/tenants.ts';
import { insertWebhook } from '../store/webhooks.ts';
import { generateWebhookSecret } from './signing.ts';

for (const kind of storeKinds()) {
  describe(`delivery worker wake-up [${kind}]`, () => {
    let store: TestStore;
    let receiver: WebhookReceiver;
    const tenantId = newTenantId();
    const numberId = newNumberId();
    const secret = generateWebhookSecret();

    before(async () => {
      store = await createTestStore(kind);
      receiver = await startWebhookReceiver();
      const now = new Date().toISOString();
      await insertTenant(store.db, { id: tenantId, name: 'Wake', createdAt: now });
      await insertNumber(store.db, {
        id: numberId,
        tenantId,
        name: 'n',
        phoneNumber: '+5511999990000',
        provider: 'META',
        metaPhoneNumberId: null,
        publicConfig: {},
        secretConfig: 'x',
        createdAt: now,
        updatedAt: now,
      });
      await insertWebhook(store.db, {
        id: newWebhookId(),
        tenantId,
        numberId,
        name: null,
        url: receiver.url,
        events: ['*'],
        active: true,
        secret: new SecretBox(TEST_SECRET_KEY).seal(secret),
        previousSecret: null,
        previousSecretExpiresAt: null,
        disabledReason: null,
        createdAt: now,
        updatedAt: now,
      });
    });
    after(async () => {
      await receiver.close();
      await store.dispose();
    });

    test('an event committed through notifyingDb is delivered long before the next poll', async () => {
      const worker = startTestWorker(store.db, workerConfig(), { options: { pollIntervalMs: 60_000 } });
      await new Promise((r) => setTimeout(r, 50)); // the first look (at start) has found nothing
      const db = notifyingDb(store.db, () => worker.worker.wake());
      const started = Date.now();
      const [id] = await emitEvents(db, { tenantId, numberId }, [{ type: 'call.ringing' }]);
      await receiver.waitFor((rs) => rs.length === 1, 10_000, 'the delivery');
      // Long before the next poll (60 s): woken by the commit. Not a speed test, so a slow machine has seconds.
      assert.ok(Date.now() - started < 10_000, `delivered in ${Date.now() - started} ms`);
      assert.equal(verifyWith(secret, receiver.requests[0]!).eventId, id);
      await worker.stop();
    });

    test('only commits that queued deliveries wake the worker', async () => {
      let wakes = 0;
      const db = notifyingDb(store.db, () => {
        wakes += 1;
      });
      await db.transaction(async (tx) => {
        await tx.query('SELECT 1 AS one');
      });
      assert.equal(wakes, 0, 'a transaction without deliveries');
      await emitEvents(db, { tenantId, numberId }, [{ type: 'call.ringing' }, { type: 'call.connected' }]);
      assert.equal(wakes, 1, 'one wake per commit, however many deliveries it queued');
      await db.transaction((tx) =>
        tx.transaction(async (inner) => {
          await emitEvents(inner, { tenantId, numberId }, [{ type: 'call.ended' }]);
        }),
      );
      assert.equal(wakes, 2, 'deliveries queued in a nested transaction count');
      await assert.rejects(
        db.transaction(async (tx) => {
          await emitEvents(tx, { tenantId, numberId }, [{ type: 'call.ended' }]);
          throw new Error('rolled back');
        }),
      );
      assert.equal(wakes, 2, 'a rolled-back transaction promised nothing');
    });
  });
}
