// A webhook changed by the API while the worker turns it off after a 410: the API's write must not bring back the
// state it read before. The wrapped store lands the worker's change right after the API read the webhook.
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import type { WebhookId } from '../../../ids.ts';
import type { Db, SqlValue } from '../../../store/db.ts';
import { disableWebhook } from '../../../store/webhooks.ts';

const GONE = 'receiver answered 410 Gone';

for (const kind of storeKinds()) {
  describe(`webhook changes racing a 410 [${kind}]`, () => {
    let t: TestApp;
    /** The webhook whose next read is followed by the worker's 410; the change that lands, to wait for. */
    const race: { id: string | null; landed: Promise<unknown> | null } = { id: null, landed: null };

    const outside = AsyncLocalStorage.snapshot();

    function racing(plain: Db, inner: Db, inTransaction: boolean): Db {
      return {
        ...inner,
        dialect: inner.dialect,
        query: async <T>(sql: string, params?: readonly SqlValue[]) => {
          const rows = await inner.query<T>(sql, params);
          if (race.id !== null && params?.[0] === race.id && /^SELECT [\s\S]* FROM webhooks WHERE id = \$1/.test(sql)) {
            const id = race.id as WebhookId;
            race.id = null;
            // Another process's write: outside a transaction it lands before the API writes; inside one, once the
            // row is free. Run from outside this request's context, so the store does not take it into its job.
            race.landed = outside(() => disableWebhook(plain, id, GONE, new Date().toISOString()));
            if (!inTransaction) {
              await race.landed;
            }
          }
          return rows;
        },
        execute: (sql, params, opts) => inner.execute(sql, params, opts),
        transaction: (fn) => inner.transaction((tx) => fn(racing(plain, tx, true))),
        close: () => inner.close(),
      };
    }

    before(async () => {
      t = await buildTestApp(kind, {
        env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' },
        wrapDb: (inner) => racing(inner, inner, false),
      });
    });
    after(() => t.close());

    const keyA = () => ({ 'x-api-key': t.numberA.key.key });

    async function webhookRacing410(): Promise<string> {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: keyA(),
        payload: { url: 'http://127.0.0.1:9/hook', events: ['*'] },
      });
      assert.equal(res.statusCode, 201, res.body);
      race.id = res.json().id;
      race.landed = null;
      return res.json().id;
    }

    async function settled(id: string) {
      await race.landed;
      return (await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}`, headers: keyA() })).json();
    }

    test('rotate-secret keeps the webhook off', async () => {
      const id = await webhookRacing410();
      const rotated = await t.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/rotate-secret`, headers: keyA() });
      assert.equal(rotated.statusCode, 200, rotated.body);
      assert.ok(race.landed, 'the 410 landed');
      const after = await settled(id);
      assert.equal(after.active, false, 'turned off by the 410, not turned back on by the rotation');
      assert.equal(after.disabledReason, GONE);
    });

    test('a PATCH of the name keeps the webhook off', async () => {
      const id = await webhookRacing410();
      const patched = await t.app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${id}`,
        headers: keyA(),
        payload: { name: 'renamed' },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.ok(race.landed, 'the 410 landed');
      const after = await settled(id);
      assert.equal(after.name, 'renamed');
      assert.equal(after.active, false, 'turned off by the 410, not turned back on by the PATCH');
      assert.equal(after.disabledReason, GONE);
    });
  });
}
