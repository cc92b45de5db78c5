// What an operator reads when deliveries fail: a warn line per failed attempt (webhook, event, call, status or
// network error, next attempt), an error when a webhook is disabled; the log API shows the receiver's response and
// the next retry time; the backlog gauges count deliveries waiting for their retry.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { emitEvents, startTestWorker, type TestWorker, workerConfig } from '../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { LEVEL, type LogSink, logSink } from '../../test/helpers/log-sink.ts';
import { storeKinds } from '../../test/helpers/stores.ts';

const HOUR = 3_600_000;

/** A loopback port that refuses connections: one we bound and closed (no guessing that nothing listens there). */
async function refusingPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

for (const kind of storeKinds()) {
  describe(`failed webhook deliveries in the logs, the log API and the backlog [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let worker: TestWorker;
    let sink: LogSink;

    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
      receiver = await startWebhookReceiver();
      sink = logSink();
      // A retry an hour later: the failed delivery stays waiting for the whole test.
      worker = startTestWorker(t.store.db, workerConfig({ webhookRetryScheduleMs: [0, HOUR] }), {
        logger: sink.logger,
      });
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await t.close();
    });

    const key = () => ({ 'x-api-key': t.numberA.key.key });

    test('a 500 is logged at warn with webhook, event, call, status and next attempt; the log API shows both', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: key(),
        payload: { url: `${receiver.url}/fails`, events: ['call.ringing'] },
      });
      const webhook = created.json() as { id: string };
      receiver.setReply({ kind: 'status', status: 500, body: 'receiver exploded: db down' });
      const callId = 'call_01LOGSFAILED00000000000000';
      const [eventId] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.ringing', callId, sequence: 1 },
      ]);
      const line = await eventually(
        async () => sink.find(/^webhook attempt 1 failed/)[0] ?? null,
        5000,
        'the warn line',
      );
      assert.equal(line.level, LEVEL.warn);
      assert.equal(line.webhookId, webhook.id);
      assert.equal(line.eventId, eventId);
      assert.equal(line.callId, callId);
      assert.equal(line.statusCode, 500);
      const next = Date.parse(String(line.nextAttemptAt));
      // The schedule's delay with its jitter: about an hour from now.
      assert.ok(
        Math.abs(next - (Date.now() + HOUR)) < HOUR / 4,
        `next attempt in about an hour: ${line.nextAttemptAt}`,
      );
      assert.equal(line.msg, `webhook attempt 1 failed (500); next attempt at ${line.nextAttemptAt}`);

      const logs = (await t.app.inject({ url: `/v1/webhooks/${webhook.id}/logs`, headers: key() })).json().logs;
      assert.equal(logs.length, 1);
      assert.equal(logs[0].status, 'FAILED');
      assert.equal(logs[0].statusCode, 500);
      assert.equal(logs[0].response, 'receiver exploded: db down');
      assert.equal(logs[0].nextAttemptAt, line.nextAttemptAt);

      const metrics = (await t.app.inject({ url: '/metrics' })).body;
      assert.match(metrics, /^callgate_webhook_backlog_size 1$/m, 'the waiting retry is backlog');
      assert.match(metrics, /^callgate_webhook_backlog_waiting_retries 1$/m);
      assert.match(metrics, /^callgate_webhook_backlog_oldest_age_seconds \d/m);
      await t.app.inject({ method: 'DELETE', url: `/v1/webhooks/${webhook.id}`, headers: key() });
    });

    test('a network error names the error; a 410 disables the webhook with an error line', async () => {
      const refused = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: key(),
        payload: { url: `http://127.0.0.1:${await refusingPort()}/closed`, events: ['call.connected'] },
      });
      assert.equal(refused.statusCode, 201, refused.body);
      await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [{ type: 'call.connected' }]);
      const network = await eventually(
        async () =>
          sink.lines.find((l) => l.webhookId === refused.json().id && /^webhook attempt 1 failed/.test(l.msg)) ?? null,
        5000,
        'the network failure line',
      );
      assert.equal(network.statusCode, null);
      assert.match(String(network.error), /ECONNREFUSED|refused/i);
      assert.match(network.msg, /^webhook attempt 1 failed \(.+\); next attempt at /);
      await t.app.inject({ method: 'DELETE', url: `/v1/webhooks/${refused.json().id}`, headers: key() });

      const gone = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: key(),
        payload: { url: `${receiver.url}/gone`, events: ['call.missed'] },
      });
      receiver.setReply({ kind: 'status', status: 410 });
      await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [{ type: 'call.missed' }]);
      const disabled = await eventually(async () => sink.find(/^webhook disabled/)[0] ?? null, 5000, 'the error line');
      assert.equal(disabled.level, LEVEL.error);
      assert.equal(disabled.webhookId, gone.json().id);
    });
  });
}
