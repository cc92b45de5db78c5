// WEBHOOKS_PER_NUMBER: a number holds a bounded number of webhooks; one more is 409, even when created concurrently.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`webhooks per number [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', WEBHOOKS_PER_NUMBER: '3' } });
    });
    after(() => t.close());

    const create = (key: string, i: number) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': key },
        payload: { url: `http://127.0.0.1:9/hook${i}`, events: ['*'] },
      });

    test('five concurrent creations on a number limited to three: three 201, two 409 WEBHOOK_LIMIT_REACHED', async () => {
      const answers = await Promise.all([0, 1, 2, 3, 4].map((i) => create(t.numberA.key.key, i)));
      const statuses = answers.map((a) => a.statusCode).sort();
      assert.deepEqual(statuses, [201, 201, 201, 409, 409]);
      for (const refused of answers.filter((a) => a.statusCode === 409)) {
        assert.equal(refused.json().code, 'WEBHOOK_LIMIT_REACHED');
        assert.deepEqual(refused.json().details, { limit: 3 });
      }
      // Another number is not affected; deleting one frees a place.
      assert.equal((await create(t.numberB.key.key, 9)).statusCode, 201);
      const id = answers.find((a) => a.statusCode === 201)?.json().id;
      const deleted = await t.app.inject({
        method: 'DELETE',
        url: `/v1/webhooks/${id}`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.ok(deleted.statusCode < 300);
      assert.equal((await create(t.numberA.key.key, 10)).statusCode, 201);
      assert.equal((await create(t.numberA.key.key, 11)).statusCode, 409);
    });
  });
}
