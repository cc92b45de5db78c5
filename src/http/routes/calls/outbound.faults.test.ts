// A business-initiated call Meta placed but the store could not record (disk full): the 503 says nothing was stored
// and a retry is safe, so nothing may be left ringing at Meta either.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../../test/helpers/calls.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { abandonKey, responseAnswersLost } from '../../../../test/helpers/lost-answers.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`outbound calls while the store refuses writes [${kind}]`, () => {
    let t: TestApp;
    let db: FaultyDb;
    before(async () => {
      t = await buildTestApp(kind, {
        env: { PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: (inner) => {
          db = faultyDb(inner);
          return db;
        },
      });
    });
    after(() => t.close());

    const start = (to: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: `+${to}`, sdp: CANNED_OFFER_SDP },
      });

    test('Meta placed the call, the store refused it: 503, the call is hung up at Meta, and the retry calls once', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      t.fake.inject({ action: 'connect', times: 1, latencyMs: 300 });
      const first = start(peer);
      // The disk fills while Meta places the call.
      await eventually(async () => t.fake.requests.some((r) => r.body?.action === 'connect' && r.body?.to === peer));
      db.failWrites = true;
      const res = await first;
      db.failWrites = false;
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, 'STORE_UNAVAILABLE');
      const placed = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === peer);
      const wacid = String(placed?.response?.calls?.[0]?.id);
      assert.equal(t.fake.callState(wacid), 'ENDED', 'no call the API knows nothing of rings the user');

      const retry = await start(peer);
      assert.equal(retry.statusCode, 201, retry.body);
      assert.notEqual(retry.json().externalCallId, wacid);
    });
  });

  describe(`a process killed between storing a call and recording its Idempotency-Key's answer [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, {
        env: { PROVIDER_TIMEOUT_MS: '2000' },
        wrapDb: responseAnswersLost,
      });
    });
    after(() => t.close());

    test('a retry with the key, once the key counts as abandoned, gets the call placed, not a second call', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const post = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/calls',
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': `crash-${peer}` },
          payload: { to: `+${peer}`, sdp: CANNED_OFFER_SDP },
        });
      const first = await post();
      assert.equal(first.statusCode, 201, first.body);
      await abandonKey(t, `crash-${peer}`);
      const retry = await post();
      assert.equal(retry.statusCode, 201, retry.body);
      assert.deepEqual(retry.json(), first.json());
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      const connects = t.fake.requests.filter((r) => r.body?.action === 'connect' && r.body?.to === peer);
      assert.equal(connects.length, 1, 'the user is called once');
    });
  });
}
