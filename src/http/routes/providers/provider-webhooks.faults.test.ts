// Provider webhooks while the store refuses writes: 503 STORE_UNAVAILABLE with Retry-After (so Meta and Evolution Go
// retry), nothing half-stored, and the retry lands once the store takes writes again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postConnect } from '../../../../test/faults/disk-full-helpers.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer, storedCall } from '../../../../test/helpers/calls.ts';
import { addWebNumber, type WebNumber, webCall } from '../../../../test/helpers/evolution.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`provider webhooks while the store refuses writes [${kind}]`, () => {
    let t: TestApp;
    let db: FaultyDb;
    let web: WebNumber;
    before(async () => {
      t = await buildTestApp(kind, {
        wrapDb: (inner) => {
          db = faultyDb(inner);
          return db;
        },
      });
      web = await addWebNumber(t);
    });
    after(async () => {
      await web.fake.close();
      await t.close();
    });

    test('Meta: 503 + Retry-After while failing, 200 and stored on the retry', async () => {
      db.failWrites = true;
      const refused = await postConnect(t, 'wacid.faulty.meta.1');
      db.failWrites = false;
      assert.deepEqual(
        { status: refused.status, code: refused.code, retryAfter: Number(refused.retryAfter) > 0 },
        { status: 503, code: 'STORE_UNAVAILABLE', retryAfter: true },
      );
      assert.equal(await storedCall(t, t.numberA, refused.wacid), null);
      assert.equal((await postConnect(t, refused.wacid)).status, 200);
      assert.equal((await storedCall(t, t.numberA, refused.wacid))?.status, 'RINGING');
    });

    test('Evolution Go: 503 + Retry-After while failing, 200 and stored on the retry', async () => {
      const callId = 'FAULTY000000000000000000000000A1';
      const from = `${nextPeer()}@s.whatsapp.net`;
      const body = JSON.stringify({
        event: 'CallOffer',
        instanceId: web.instanceId,
        instanceName: 'x',
        instanceToken: web.token,
        data: { CallID: callId, CallCreator: from, From: from, Timestamp: new Date().toISOString() },
      });
      const send = () =>
        t.app.inject({
          method: 'POST',
          url: `/providers/evolution/webhook/${web.id}`,
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
      db.failWrites = true;
      const refused = await send();
      db.failWrites = false;
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.json().code, 'STORE_UNAVAILABLE');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal(await webCall(t, web, callId), null);
      const retried = await send();
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal((await webCall(t, web, callId))?.status, 'RINGING');
    });
  });
}
