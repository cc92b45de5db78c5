// Re-sealing the store's secrets under a new SECRET_KEY, on every store: everything the old key sealed opens with
// the new key alone afterwards, across pages, and a secret changed meanwhile is not overwritten.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestStore, storeKinds, type TestStore } from '../../test/helpers/stores.ts';
import { SecretBox } from '../auth/secret-box.ts';
import { newNumberId, newTenantId, newWebhookId, type TenantId, type WebhookId } from '../ids.ts';
import type { Db } from './db.ts';
import { completeIdempotencyKey, readIdempotencyKey, tryLockIdempotencyKey } from './idempotency.ts';
import { insertNumber } from './numbers.ts';
import { resealAll } from './sealed-secrets.ts';
import { insertTenant } from './tenants.ts';
import { insertWebhook } from './webhooks.ts';

const OLD = 'the-old-secret-key-being-replaced!';
const NEW = 'the-new-secret-key-of-enough-length';
const oldBox = new SecretBox(OLD);
const newOnly = new SecretBox(NEW);
const rotating = new SecretBox(NEW, OLD);
// More stored answers than one page of the walk (500), so the keyset paging is exercised.
const ANSWERS = 1_203;

for (const kind of storeKinds()) {
  describe(`secret-key rotate on ${kind}`, () => {
    let store: TestStore;
    const tenantId: TenantId = newTenantId();
    const numberIds = [newNumberId(), newNumberId()] as const;
    const webhookId: WebhookId = newWebhookId();
    const now = new Date().toISOString();
    const later = new Date(Date.now() + 86_400_000).toISOString();

    before(async () => {
      store = await createTestStore(kind);
      await insertTenant(store.db, { id: tenantId, name: 'Rotate', createdAt: now });
      for (const [i, id] of numberIds.entries()) {
        await insertNumber(store.db, {
          id,
          tenantId,
          name: `n${i}`,
          phoneNumber: `+55119999900${i}0`,
          provider: 'META',
          metaPhoneNumberId: null,
          publicConfig: {},
          secretConfig: oldBox.seal(`{"accessToken":"EAAG-${i}"}`),
          createdAt: now,
          updatedAt: now,
        });
      }
      await insertWebhook(store.db, {
        id: webhookId,
        tenantId,
        numberId: numberIds[0],
        name: null,
        url: 'https://example.test/hook',
        events: ['*'],
        active: true,
        secret: oldBox.seal('whsec_current'),
        previousSecret: oldBox.seal('["whsec_previous"]'),
        previousSecretExpiresAt: later,
        disabledReason: null,
        createdAt: now,
        updatedAt: now,
      });
      await store.db.transaction(async (tx) => {
        for (let i = 0; i < ANSWERS; i++) {
          const key = `key-${String(i).padStart(5, '0')}`;
          await tryLockIdempotencyKey(tx, `scope-${i % 3}`, key, 'fp', now, later);
          await completeIdempotencyKey(tx, `scope-${i % 3}`, key, now, 201, oldBox.seal(`{"n":${i}}`));
        }
      });
    });
    after(() => store.dispose());

    const sealedValues = async () => [
      ...(await store.db.query<{ v: string }>('SELECT secret_config AS v FROM numbers')).map((r) => r.v),
      ...(
        await store.db.query<{ a: string; b: string }>('SELECT secret AS a, previous_secret AS b FROM webhooks')
      ).flatMap((r) => [r.a, r.b]),
    ];

    test('every secret the old key sealed opens with the new key alone, and a second run changes nothing', async () => {
      const before = await sealedValues();
      const dryRun = await resealAll(store.db, rotating, { dryRun: true });
      assert.deepEqual(await sealedValues(), before, 'a dry run writes nothing');
      const report = await resealAll(store.db, rotating);
      assert.deepEqual(dryRun, report, 'a dry run counts what the run then does');
      assert.deepEqual(report, {
        resealed: { numbers: 2, webhooks: 1, webhookPreviousSecrets: 1, idempotencyKeys: ANSWERS },
        alreadyCurrent: 0,
        unreadable: [],
      });
      assert.deepEqual((await sealedValues()).map((v) => newOnly.open(v)).sort(), [
        '["whsec_previous"]',
        'whsec_current',
        '{"accessToken":"EAAG-0"}',
        '{"accessToken":"EAAG-1"}',
      ]);
      for (const i of [0, 499, 500, 1_000, ANSWERS - 1]) {
        const record = await readIdempotencyKey(store.db, `scope-${i % 3}`, `key-${String(i).padStart(5, '0')}`);
        assert.equal(newOnly.open(record?.responseBody as string), `{"n":${i}}`, `answer ${i}`);
      }

      const again = await resealAll(store.db, rotating);
      assert.equal(again.alreadyCurrent, 4 + ANSWERS);
      assert.deepEqual(again.resealed, { numbers: 0, webhooks: 0, webhookPreviousSecrets: 0, idempotencyKeys: 0 });
    });

    test('a secret neither key opens is named, not shown; nothing is re-sealed then, unless forced', async () => {
      const foreign = new SecretBox('a-key-nobody-configured-anywhere!!').seal('{"accessToken":"EAAG-lost"}');
      await store.db.execute('UPDATE numbers SET secret_config = $1 WHERE id = $2', [foreign, numberIds[1]]);
      const stillOld = oldBox.seal('whsec_current');
      await store.db.execute('UPDATE webhooks SET secret = $1 WHERE id = $2', [stillOld, webhookId]);
      const secretOf = async (sql: string, id: string) => (await store.db.query<{ v: string }>(sql, [id]))[0]?.v;
      const webhookSecret = () => secretOf('SELECT secret AS v FROM webhooks WHERE id = $1', webhookId);

      // A mistyped SECRET_KEY would read as this: nothing may be sealed under it.
      const dryRun = await resealAll(store.db, rotating, { dryRun: true });
      const forcedDryRun = await resealAll(store.db, rotating, { dryRun: true, force: true });
      const report = await resealAll(store.db, rotating);
      assert.deepEqual(dryRun, report, 'a dry run counts what the same run does: nothing, refused');
      assert.deepEqual(report.unreadable, [`numbers ${numberIds[1]} (secret_config)`]);
      assert.doesNotMatch(JSON.stringify(report), /EAAG/);
      assert.deepEqual(report.resealed, { numbers: 0, webhooks: 0, webhookPreviousSecrets: 0, idempotencyKeys: 0 });
      assert.equal(await webhookSecret(), stillOld, 'nothing written');

      const forced = await resealAll(store.db, rotating, { force: true });
      assert.deepEqual(forcedDryRun, forced, 'a forced dry run counts what the forced run does');
      assert.deepEqual(forced.unreadable, report.unreadable);
      assert.equal(forced.resealed.webhooks, 1, 'the readable ones re-sealed');
      assert.equal(newOnly.open(String(await webhookSecret())), 'whsec_current');
      assert.equal(await secretOf('SELECT secret_config AS v FROM numbers WHERE id = $1', numberIds[1]), foreign);
      // The next test starts from a store every key reads.
      await store.db.execute('UPDATE numbers SET secret_config = $1 WHERE id = $2', [
        newOnly.seal('{"accessToken":"EAAG-1"}'),
        numberIds[1],
      ]);
    });

    test('a secret rotated while the walk reads it keeps its new value: the re-seal does not overwrite it', async () => {
      await store.db.execute('UPDATE webhooks SET secret = $1 WHERE id = $2', [
        oldBox.seal('whsec_current'),
        webhookId,
      ]);
      const rotatedMeanwhile = newOnly.seal('whsec_rotated_meanwhile');
      // The user's rotate-secret lands between the walk's read and its write.
      const db = store.db;
      const racing: Db = {
        dialect: db.dialect,
        query: (sql, params) => db.query(sql, params),
        transaction: (fn) => db.transaction(fn),
        close: () => db.close(),
        execute: async (sql, params) => {
          if (sql.startsWith('UPDATE webhooks SET secret =')) {
            await db.execute('UPDATE webhooks SET secret = $1 WHERE id = $2', [rotatedMeanwhile, webhookId]);
          }
          return db.execute(sql, params);
        },
      };
      const report = await resealAll(racing, rotating);
      assert.equal(report.resealed.webhooks, 0);
      const [row] = await store.db.query<{ v: string }>('SELECT secret AS v FROM webhooks WHERE id = $1', [webhookId]);
      assert.equal(row?.v, rotatedMeanwhile);
    });
  });
}
