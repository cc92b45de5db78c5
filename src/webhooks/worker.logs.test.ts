// What an operator reads when deliveries fail: a warn line per failed attempt (webhook, event, call, status or
// network error, next attempt), an error when a webhook is disabled; the log API shows the receiver's response and
// the next retry time; the backlog gauges count deliveries waiting for their retry. Past WEBHOOK_LOG_RETENTION_DAYS
// the sweeper prunes attempts and finished deliveries (at most once a minute per process); a pending delivery keeps
// its attempts whatever their age; events stay, so an old event can still be replayed; 0 keeps everything.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { emitEvents, startTestWorker, type TestWorker, workerConfig } from '../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { LEVEL, type LogSink, logSink } from '../../test/helpers/log-sink.ts';
import { ManualClock } from '../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { ActionSlots } from '../calls/action-slots.ts';
import { Sweeper } from '../calls/sweeper.ts';
import { callIdOf } from './worker.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

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
  describe(`failed webhook deliveries in the logs, the log API and the backlog; log retention [${kind}]`, () => {
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

    const create = async (url: string, events: string[]) =>
      (await t.app.inject({ method: 'POST', url: '/v1/webhooks', headers: key(), payload: { url, events } })).json()
        .id as string;
    const logged = async (webhookId: string) =>
      (
        (await t.app.inject({ url: `/v1/webhooks/${webhookId}/logs?limit=50`, headers: key() })).json().logs as {
          eventId: string;
        }[]
      ).map((l) => l.eventId);
    const sweeper = (clock: ManualClock, days: number) =>
      new Sweeper({
        db: t.store.db,
        clock,
        slots: new ActionSlots(t.store.db, clock, 1_000),
        providers: () => {
          throw new Error('no call to end');
        },
        config: {
          ringTimeoutSeconds: 600,
          sweepIntervalMs: 1_000,
          webhookLogRetentionDays: days,
          webhookRetryScheduleMs: [0, 1000],
          providerTimeoutMs: 1_000,
          evolutionDialTimeoutMs: 1_000,
        },
        logger: pino({ level: 'silent' }),
      });
    /** Makes the log rows of these events look `days` old. */
    const age = async (eventIds: string[], days: number) => {
      const at = new Date(Date.now() - days * DAY).toISOString();
      for (const id of eventIds) {
        await t.store.db.execute('UPDATE delivery_attempts SET created_at = $1 WHERE event_id = $2', [at, id]);
        await t.store.db.execute('UPDATE deliveries SET created_at = $1, updated_at = $1 WHERE event_id = $2', [
          at,
          id,
        ]);
      }
    };

    test('old attempts and finished deliveries go; recent ones, and a pending delivery, stay; old events replay', async () => {
      receiver.ok();
      const delivered = await create(`${receiver.url}/ok`, ['call.ringing']);
      const failing = await create(`http://127.0.0.1:${await refusingPort()}/down`, ['call.ended']);
      const owner = { tenantId: t.tenantId, numberId: t.numberA.id };
      const ringing = await emitEvents(t.store.db, owner, [
        { type: 'call.ringing' },
        { type: 'call.ringing' },
        { type: 'call.ringing' },
      ]);
      const [ended] = await emitEvents(t.store.db, owner, [{ type: 'call.ended' }]);
      await eventually(async () => (await logged(delivered)).length === 3 && (await logged(failing)).length === 1);
      const [old1, old2, recent] = ringing;
      assert.ok(old1 && old2 && recent && ended);
      await age([old1, old2, ended], 31);
      await age([recent], 29);

      // Retention 0 keeps everything.
      await sweeper(new ManualClock(Date.now()), 0).sweepOnce();
      assert.equal((await logged(delivered)).length, 3);

      const clock = new ManualClock(Date.now());
      const sweep = sweeper(clock, 30);
      await sweep.sweepOnce();
      assert.deepEqual(await logged(delivered), [recent]);
      assert.deepEqual(await logged(failing), [ended], 'the pending delivery keeps its attempt');
      const rows = await t.store.db.query<{ event_id: string; status: string }>(
        'SELECT event_id, status FROM deliveries WHERE webhook_id = $1 OR webhook_id = $2',
        [delivered, failing],
      );
      assert.deepEqual(rows.map((r) => r.event_id).sort(), [recent, ended].sort());

      // At most once a minute: rows aged now wait for the next minute.
      await age([recent], 31);
      clock.advance(30_000);
      await sweep.sweepOnce();
      assert.deepEqual(await logged(delivered), [recent]);
      clock.advance(31_000);
      await sweep.sweepOnce();
      assert.deepEqual(await logged(delivered), []);

      // The events themselves stay: an old one is replayed and logged afresh.
      const replay = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/${delivered}/replay`,
        headers: key(),
        payload: { eventId: old1 },
      });
      assert.equal(replay.statusCode, 202, replay.body);
      await eventually(async () => (await logged(delivered)).includes(old1), 5000, 'the replayed delivery');
    });
  });
}

test('a failed delivery names its call whatever the event: call.* by the call object, recording_ready by callId', () => {
  assert.equal(callIdOf(JSON.stringify({ event: 'call.ended', id: 'call_01A', status: 'COMPLETED' })), 'call_01A');
  // call.recording_ready carries the call as callId: its failed attempts were logged with callId null.
  const ready = { event: 'call.recording_ready', eventId: 'evt_1', callId: 'call_01B', recording: { status: 'ready' } };
  assert.equal(callIdOf(JSON.stringify(ready)), 'call_01B');
  assert.equal(callIdOf(JSON.stringify({ event: 'call.permission_updated', peerNumber: '15550100' })), null);
  assert.equal(callIdOf('not json'), null);
});
