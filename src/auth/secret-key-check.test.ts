// The start-up check of SECRET_KEY against the store, on every store: a store half re-sealed under a new key (a number
// created after the new key was given, the older ones never rotated) is refused once SECRET_KEY_PREVIOUS is dropped,
// though its newest credentials open.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestStore, storeKinds, type TestStore } from '../../test/helpers/stores.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { newNumberId, newTenantId } from '../ids.ts';
import { insertNumber } from '../store/numbers.ts';
import { resealAll } from '../store/sealed-secrets.ts';
import { isSecretKeyInUse } from '../store/secret-keys.ts';
import { insertTenant } from '../store/tenants.ts';
import { SecretBox } from './secret-box.ts';
import { checkSecretKey } from './secret-key-check.ts';

const OLD = 'the-old-secret-key-being-replaced!';
const NEW = 'the-new-secret-key-of-enough-length';

for (const kind of storeKinds()) {
  describe(`SECRET_KEY start-up check on ${kind}`, () => {
    let store: TestStore;
    before(async () => {
      store = await createTestStore(kind);
      const tenantId = newTenantId();
      await insertTenant(store.db, { id: tenantId, name: 'Check', createdAt: new Date().toISOString() });
      // The older number sealed with the old key, the newer one (made after the new key was given) with the new one.
      for (const [i, box] of [new SecretBox(OLD), new SecretBox(NEW, OLD)].entries()) {
        const at = new Date(Date.now() + i * 1000).toISOString();
        await insertNumber(store.db, {
          id: newNumberId(),
          tenantId,
          name: `n${i}`,
          phoneNumber: `+5511999990${i}00`,
          provider: 'META',
          metaPhoneNumberId: null,
          publicConfig: {},
          secretConfig: box.seal(`{"accessToken":"EAAG-${i}"}`),
          createdAt: at,
          updatedAt: at,
        });
      }
    });
    after(() => store.dispose());

    test('the new key alone is refused while an older number is sealed with the old one; rotated, it starts', async () => {
      const newAlone = loadConfig({ SECRET_KEY: NEW });
      await assert.rejects(checkSecretKey(store.db, NEW, newAlone), ConfigError);
      const both = loadConfig({ SECRET_KEY: NEW, SECRET_KEY_PREVIOUS: OLD });
      await checkSecretKey(store.db, NEW, both);
      await resealAll(store.db, new SecretBox(NEW, OLD));
      await checkSecretKey(store.db, NEW, newAlone);
      await assert.rejects(checkSecretKey(store.db, OLD, loadConfig({ SECRET_KEY: OLD })), ConfigError);
    });

    test('a key that passes is noted as in use, by fingerprint only; a refused one is not', async () => {
      const other = 'yet-another-secret-key-never-started';
      await assert.rejects(checkSecretKey(store.db, other, loadConfig({ SECRET_KEY: other })), ConfigError);
      assert.equal(await isSecretKeyInUse(store.db, other), false);
      await checkSecretKey(store.db, NEW, loadConfig({ SECRET_KEY: NEW }));
      await checkSecretKey(store.db, NEW, loadConfig({ SECRET_KEY: NEW }));
      assert.equal(await isSecretKeyInUse(store.db, NEW), true);
      const rows = await store.db.query<{ fingerprint: string }>('SELECT fingerprint FROM secret_keys');
      assert.ok(rows.length >= 1);
      assert.ok(rows.every((r) => !r.fingerprint.includes(NEW) && r.fingerprint.length === 22));
    });
  });
}
