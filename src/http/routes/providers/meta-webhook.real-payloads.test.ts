// Meta payloads seen in real integrations (issue 16): account_settings_update and webhooks for numbers we do not
// hold, signed by one of our apps, are answered 200 so Meta stops retrying; the settings update is applied.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signMetaBody } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`Meta real payloads [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const statusesOf = (field: string) =>
      t.fake.webhookAttempts.filter((a) => a.body.includes(`"field":"${field}"`)).map((a) => a.status);

    test('our own settings change comes back as account_settings_update: 200, kept on the number', async () => {
      const res = await t.app.inject({
        method: 'PUT',
        url: '/v1/calls/settings',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { status: 'ENABLED', call_icon_visibility: 'DISABLE_ALL' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const number = await eventually(
        async () => {
          const n = (
            await t.app.inject({ url: `/v1/numbers/${t.numberA.id}`, headers: { 'x-api-key': t.tenantKey.key } })
          ).json();
          return n.meta.callingSettings ? n : null;
        },
        3000,
        'the settings update to be applied',
      );
      assert.equal(number.meta.callingSettings.call_icon_visibility, 'DISABLE_ALL');
      assert.equal(typeof number.meta.callingSettingsAt, 'string');
      await t.fake.flush();
      assert.deepEqual(statusesOf('account_settings_update'), [200], 'accepted at the first attempt');
    });

    test('account_settings_update about a number we do not hold, signed by our app: 200 and nothing changes', async () => {
      const before = t.fake.webhookAttempts.length;
      await t.fake.accountSettingsUpdate(t.numberB.phoneNumberId, { about: '123456789012345' });
      await t.fake.flush();
      const attempts = t.fake.webhookAttempts.slice(before);
      assert.deepEqual(
        attempts.map((a) => a.status),
        [200],
      );
      const b = (
        await t.app.inject({ url: `/v1/numbers/${t.numberB.id}`, headers: { 'x-api-key': t.tenantKey.key } })
      ).json();
      assert.equal(b.meta.callingSettings, undefined, "numberB's record is untouched");
    });

    test('a WABA-level change naming no number: 200 when signed by our app, 401 when not', async () => {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [
          { id: '102290129340398', changes: [{ field: 'account_review_update', value: { decision: 'APPROVED' } }] },
        ],
      });
      const post = (signature?: string) =>
        t.app.inject({
          method: 'POST',
          url: '/providers/meta/webhook',
          headers: { 'content-type': 'application/json', ...(signature ? { 'x-hub-signature-256': signature } : {}) },
          payload: body,
        });
      const signed = await post(signMetaBody(body, t.numberB.appSecret));
      assert.equal(signed.statusCode, 200);
      assert.deepEqual(signed.json(), { received: 0 });
      assert.equal((await post(signMetaBody(body, 'someone-else'))).statusCode, 401);
      assert.equal((await post()).statusCode, 401);
    });
  });
}
