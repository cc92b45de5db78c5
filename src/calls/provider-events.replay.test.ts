// A provider replaying webhooks (duplicates, retries after a 503) adds no timeline lines and no events again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, storedCall } from '../../test/helpers/calls.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { listTimeline } from '../store/timeline.ts';

for (const kind of storeKinds()) {
  describe(`replayed provider webhooks [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test('a connect and a hang-up each sent three times leave one line each on the timeline', async () => {
      const wacid = await t.fake.incomingCall(
        { phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() },
        { duplicate: 2 },
      );
      await t.fake.flush();
      await t.fake.userHangsUp(wacid, { duplicate: 2 });
      await t.fake.flush();
      const call = await storedCall(t, t.numberA, wacid);
      assert.ok(call);
      assert.equal(call.status, 'MISSED');
      const lines = (await listTimeline(t.store.db, call.id)).map((e) => `${e.source}:${e.type}`);
      assert.deepEqual(lines, ['provider:offer', 'provider:end']);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.missed', 'call.ended'],
      );
    });
  });
}
