// End to end on every store: a call answered through the Meta fake, terminated through our API,
// reaches the customer's receiver as exactly one signed call.ended with the right duration.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { buildTestApp, type TestApp } from '../helpers/build-test-app.ts';
import { acceptedCall, storedCall } from '../helpers/calls.ts';
import { storeKinds } from '../helpers/stores.ts';
import { sleep, startTestWorker, type TestWorker, verifyWith, workerConfig } from './webhook-helpers.ts';

for (const kind of storeKinds()) {
  describe(`call.ended webhook end to end [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let otherNumber: WebhookReceiver;
    let worker: TestWorker;
    let secret: string;

    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
      receiver = await startWebhookReceiver();
      otherNumber = await startWebhookReceiver();
      const mine = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { url: receiver.url, events: ['call.ended'], whatsappNumberId: t.numberA.id, name: 'ended only' },
      });
      assert.equal(mine.statusCode, 201, mine.body);
      secret = mine.json().secret;
      const theirs = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberB.key.key },
        payload: { url: otherNumber.url, events: ['*'] },
      });
      assert.equal(theirs.statusCode, 201, theirs.body);
      worker = startTestWorker(t.store.db, workerConfig());
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await otherNumber.close();
      await t.close();
    });

    test('terminating an answered call sends one signed call.ended with its durationSeconds', async () => {
      const call = await acceptedCall(t);
      await sleep(1100); // so the call lasts at least a whole second
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.equal(res.statusCode, 200, res.body);

      const ended = () => receiver.requests.filter((r) => r.body?.id === call.id);
      await receiver.waitFor(() => ended().length >= 1, 5000, 'call.ended');
      await sleep(300);
      assert.equal(ended().length, 1, 'exactly one delivery: call.ringing and call.connected are not subscribed');
      const delivery = ended()[0]!;
      const body = verifyWith(secret, delivery);
      const stored = (await storedCall(t, t.numberA, call.id))!;
      assert.equal(body.event, 'call.ended');
      assert.equal(delivery.headers['webhook-id'], body.eventId);
      assert.equal(body.status, 'COMPLETED');
      assert.equal(body.endedBy, 'BUSINESS');
      assert.equal(body.numberId, t.numberA.id);
      assert.equal(body.externalCallId, call.externalCallId);
      assert.ok(body.durationSeconds >= 1, `answered call has a duration, got ${body.durationSeconds}`);
      assert.equal(
        body.durationSeconds,
        Math.floor((Date.parse(body.endedAt) - Date.parse(body.connectedAt)) / 1000),
        'whole seconds connectedAt → endedAt',
      );
      // Meta's terminate webhook may arrive after ours and only refine the stored duration (docs/spec/calls-api.md §4.9), by its own rounding.
      assert.ok(
        Math.abs(body.durationSeconds - stored.durationSeconds!) <= 1,
        `payload ${body.durationSeconds} s vs stored ${stored.durationSeconds} s`,
      );
      assert.equal(body.sequence, stored.eventSeq, "call.ended is the call's last event");
      assert.equal(
        otherNumber.requests.filter((r) => r.body?.id === call.id).length,
        0,
        "another number's webhook hears nothing",
      );
    });
  });
}
