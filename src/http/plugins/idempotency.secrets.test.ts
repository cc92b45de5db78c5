// Secrets shown once (a number's key, a regenerated key, a webhook's signing secret) are shown again on an
// Idempotency-Key replay, yet never sit in clear in the store: not in the database file, not in its WAL.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';
import { SecretBox } from '../../auth/secret-box.ts';

for (const kind of storeKinds()) {
  describe(`idempotent replays of secrets [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    });
    after(() => t.close());

    /** Posts twice with one Idempotency-Key: the replay must be the same response. */
    async function postTwice(url: string, key: string, payload?: Record<string, unknown>) {
      const idem = `idem-${Math.random()}`;
      const once = () =>
        t.app.inject({
          method: 'POST',
          url,
          headers: { 'x-api-key': key, 'idempotency-key': idem },
          ...(payload ? { payload } : {}),
        });
      const first = await once();
      const replay = await once();
      assert.ok(first.statusCode < 300, first.body);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(replay.statusCode, first.statusCode);
      assert.equal(replay.body, first.body);
      return first.json();
    }

    test('number key, regenerated key and webhook secret replay, and none is stored in clear', async () => {
      t.fake.addNumber({
        phoneNumberId: '770001',
        displayPhoneNumber: '551130001234',
        wabaId: '102290129340398',
        accessToken: 'EAAG-token-secrets',
        appSecret: 'app-secret-secrets',
      });
      const created = await postTwice('/v1/numbers', t.tenantKey.key, {
        name: 'Secrets',
        phoneNumber: '+551130001234',
        provider: 'META',
        meta: {
          phoneNumberId: '770001',
          wabaId: '102290129340398',
          accessToken: 'EAAG-token-secrets',
          appSecret: 'app-secret-secrets',
          verifyToken: 'vt-secrets',
        },
      });
      const numberKey: string = created.apiKey.key;
      const regenerated: string = (await postTwice(`/v1/api-keys/${created.number.id}/regenerate`, t.tenantKey.key))
        .apiKey.key;
      const webhookSecret: string = (
        await postTwice('/v1/webhooks', regenerated, { url: 'http://127.0.0.1:9/hook', events: ['*'] })
      ).secret;
      const shown = [numberKey, regenerated, webhookSecret];
      for (const secret of shown) {
        assert.ok(secret.length >= 20);
      }

      const stored = await t.store.db.query<{ response_body: string | null }>(
        'SELECT response_body FROM idempotency_keys',
      );
      assert.ok(stored.length >= 3);
      for (const row of stored) {
        for (const secret of shown) {
          assert.ok(!(row.response_body ?? '').includes(secret), 'a stored response carries a secret in clear');
        }
      }
      if (kind === 'sqlite') {
        const dir = t.store.env.DATA_DIR ?? '';
        for (const file of ['callgate.db', 'callgate.db-wal']) {
          const bytes = readFileSync(join(dir, file));
          for (const secret of shown) {
            assert.equal(bytes.indexOf(secret), -1, `${file} holds a shown secret in clear`);
          }
        }
      }
    });

    test('an answer sealed with a key this process lacks (another SECRET_KEY): 503 to retry, not a 500', async () => {
      const idem = 'idem-other-key';
      const once = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/webhooks',
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': idem },
          payload: { url: 'http://127.0.0.1:9/other-key', events: ['*'] },
        });
      const first = await once();
      assert.equal(first.statusCode, 201, first.body);
      // Sealed by a process already given the new SECRET_KEY while this one still has the old (a rolling restart).
      await t.store.db.execute('UPDATE idempotency_keys SET response_body = $1 WHERE idempotency_key = $2', [
        new SecretBox('a-newer-secret-key-of-32-characters!').seal(first.body),
        idem,
      ]);
      const replay = await once();
      assert.equal(replay.statusCode, 503, replay.body);
      assert.equal(replay.json().code, 'SERVICE_UNAVAILABLE');
      assert.ok(Number(replay.headers['retry-after']) > 0);
      assert.equal((await t.store.db.query('SELECT id FROM webhooks WHERE url = $1', [first.json().url])).length, 1);
    });
  });

  describe(`a shown secret reaches the client when its idempotency record cannot be completed [${kind}]`, () => {
    let t: TestApp;
    let failCompletion = false;
    before(async () => {
      t = await buildTestApp(kind, {
        // The disk fills between the handler's commit and the idempotency record's completion.
        wrapDb: (inner) => ({
          ...inner,
          dialect: inner.dialect,
          query: (sql, params) => inner.query(sql, params),
          execute: (sql, params, opts) =>
            failCompletion && sql.startsWith('UPDATE idempotency_keys SET state')
              ? Promise.reject(
                  Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 }),
                )
              : inner.execute(sql, params, opts),
          transaction: (fn) => inner.transaction(fn),
          close: () => inner.close(),
        }),
      });
    });
    after(() => t.close());

    test('creating a number answers 201 with its key, which the answer stored with the number replays', async () => {
      t.fake.addNumber({
        phoneNumberId: '770002',
        displayPhoneNumber: '551130004321',
        wabaId: '102290129340398',
        accessToken: 'EAAG-token-full',
        appSecret: 'app-secret-full',
      });
      failCompletion = true;
      const create = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/numbers',
          headers: { 'x-api-key': t.tenantKey.key, 'idempotency-key': 'idem-full-disk' },
          payload: {
            name: 'Full disk',
            phoneNumber: '+551130004321',
            provider: 'META',
            meta: {
              phoneNumberId: '770002',
              wabaId: '102290129340398',
              accessToken: 'EAAG-token-full',
              appSecret: 'app-secret-full',
              verifyToken: 'vt-full',
            },
          },
        });
      const res = await create();
      failCompletion = false;
      assert.equal(res.statusCode, 201, res.body);
      const key: string = res.json().apiKey.key;
      const calls = await t.app.inject({ method: 'GET', url: '/v1/calls', headers: { 'x-api-key': key } });
      assert.equal(calls.statusCode, 200, 'the key shown is the stored one');
      const retry = await create();
      assert.equal(retry.statusCode, 201, retry.body);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.equal(retry.json().apiKey.key, key);
    });
  });
}
