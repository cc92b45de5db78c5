// How deliveries behave against receivers that fail in the ways real ones do, on every store:
// the documented schedule (shortened by config), Retry-After, 410, timeouts, redirects, isolation
// between receivers, per-call order, several workers, graceful stop.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventId, WebhookId } from '../../src/ids.ts';
import type { WorkerOptions } from '../../src/webhooks/worker.ts';
import { startWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import type { Json } from '../helpers/json.ts';
import { listDeliveriesForWebhook } from '../helpers/store-reads.ts';
import { storeKinds } from '../helpers/stores.ts';
import { type EventSpec, emitEvents, sleep, startTestWorker, verifyWith, workerConfig } from './webhook-helpers.ts';

for (const kind of storeKinds()) {
  describe(`webhook delivery [${kind}]`, () => {
    let t: TestApp;
    const cleanups: (() => Promise<unknown>)[] = [];

    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    });
    after(async () => {
      await t.close();
    });

    /** A receiver, a webhook of number A pointing at it, and a worker; all undone after the test. */
    async function setup(
      opts: { worker?: Parameters<typeof workerConfig>[0]; options?: Partial<WorkerOptions>; events?: string[] } = {},
    ) {
      const receiver = await startWebhookReceiver();
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { url: receiver.url, events: opts.events ?? ['*'] },
      });
      assert.equal(res.statusCode, 201, res.body);
      const webhook = res.json() as { id: WebhookId; secret: string };
      const worker = startTestWorker(t.store.db, workerConfig(opts.worker), {
        ...(opts.options ? { options: opts.options } : {}),
      });
      const teardown = async () => {
        await worker.stop();
        await t.app.inject({
          method: 'DELETE',
          url: `/v1/webhooks/${webhook.id}`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        await receiver.close();
      };
      cleanups.push(teardown);
      return { receiver, webhook, worker };
    }

    async function cleanup() {
      while (cleanups.length) {
        await cleanups.pop()!();
      }
    }

    const emit = (specs: EventSpec[]) =>
      emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, specs);
    const logsOf = async (id: string) =>
      (
        await t.app.inject({
          method: 'GET',
          url: `/v1/webhooks/${id}/logs?limit=50`,
          headers: { 'x-api-key': t.numberA.key.key },
        })
      ).json().logs as Json[];

    test('a delivery is signed (the standardwebhooks library verifies it) and carries the documented headers', async () => {
      const { receiver, webhook } = await setup();
      const [id] = await emit([{ type: 'call.ringing', callId: 'call_01SIGNED00000000000000000', sequence: 1 }]);
      await receiver.waitFor((rs) => rs.length === 1);
      const r = receiver.requests[0]!;
      const body = verifyWith(webhook.secret, r);
      assert.equal(body.eventId, id);
      assert.equal(body.event, 'call.ringing');
      assert.equal(r.method, 'POST');
      assert.equal(r.headers['webhook-id'], id);
      assert.equal(r.headers['webhook-attempt'], '1');
      assert.match(String(r.headers['user-agent']), /^callgate\/\d+\.\d+\.\d+$/);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 5);
      assert.equal(String(r.headers['webhook-signature']).split(' ').length, 1, 'one signature outside a rotation');
      await cleanup();
    });

    test('any 2xx is a success: 202, 204 and 299 are delivered at the first attempt, never retried', async () => {
      const { receiver, webhook } = await setup({ worker: { webhookRetryScheduleMs: [0, 20, 20] } });
      receiver.queue({ kind: 'status', status: 202 }, { kind: 'status', status: 204 }, { kind: 'status', status: 299 });
      const ids = await emit([{ type: 'call.ringing' }, { type: 'call.connected' }, { type: 'call.ended' }]);
      await eventually(
        async () => (await listDeliveriesForWebhook(t.store.db, webhook.id)).every((d) => d.status === 'SUCCESS'),
        3000,
        'three deliveries to be SUCCESS',
      );
      await sleep(100);
      assert.equal(receiver.requests.length, 3, 'one request per event: no retry after a 2xx');
      assert.deepEqual(new Set(receiver.requests.map((r) => r.headers['webhook-id'])), new Set(ids));
      const logs = await logsOf(webhook.id);
      assert.deepEqual(logs.map((l) => [l.attempt, l.status]).sort(), [
        [1, 'SUCCESS'],
        [1, 'SUCCESS'],
        [1, 'SUCCESS'],
      ]);
      assert.deepEqual(logs.map((l) => l.statusCode).sort(), [202, 204, 299]);
      await cleanup();
    });

    test("webhook-timestamp is the try's own time, so an event sent long after it happened still verifies", async () => {
      const { receiver, webhook, worker } = await setup();
      await worker.stop();
      const id = (await emit([{ type: 'call.ended' }]))[0]!;
      // An hour in the store (a receiver down, a paused webhook, a replay): past every verifier's 5-minute tolerance.
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await t.store.db.execute('UPDATE events SET created_at = $1, occurred_at = $1 WHERE id = $2', [hourAgo, id]);
      await t.store.db.execute('UPDATE deliveries SET created_at = $1, next_attempt_at = $1 WHERE event_id = $2', [
        hourAgo,
        id,
      ]);
      const late = startTestWorker(t.store.db, workerConfig());
      cleanups.push(() => late.stop());
      await receiver.waitFor((rs) => rs.length === 1, 3000, 'the delivery');
      const r = receiver.requests[0]!;
      const timestamp = Number(r.headers['webhook-timestamp']);
      assert.ok(Math.abs(timestamp - Date.now() / 1000) < 5, `a fresh timestamp, got ${timestamp}`);
      assert.equal(verifyWith(webhook.secret, r).eventId, id);
      await cleanup();
    });

    test('a receiver answering 500 is retried on the schedule, then the delivery is FAILED and kept', async () => {
      const { receiver, webhook, worker } = await setup({ worker: { webhookRetryScheduleMs: [0, 100, 200] } });
      receiver.status(500);
      const [id] = await emit([{ type: 'call.ended' }]);
      await receiver.waitFor((rs) => rs.length === 3, 5000, 'three attempts');
      const at = receiver.requests.map((r) => r.at);
      assert.ok(at[1]! - at[0]! >= 75, `second attempt ~100 ms later, got ${at[1]! - at[0]!}`);
      assert.ok(at[2]! - at[1]! >= 155, `third attempt ~200 ms later, got ${at[2]! - at[1]!}`);
      assert.deepEqual(
        receiver.requests.map((r) => r.headers['webhook-attempt']),
        ['1', '2', '3'],
      );
      assert.ok(
        receiver.requests.every((r) => r.headers['webhook-id'] === id),
        'the same webhook-id on every retry',
      );
      const delivery = await eventually(
        async () => {
          const [d] = await listDeliveriesForWebhook(t.store.db, webhook.id);
          return d?.status === 'FAILED' ? d : null;
        },
        3000,
        'the delivery to be FAILED',
      );
      assert.equal(delivery.attempts, 3);
      assert.equal(delivery.lastStatusCode, 500);
      await sleep(300);
      assert.equal(receiver.requests.length, 3, 'nothing after the last attempt');
      const logs = await logsOf(webhook.id);
      assert.deepEqual(
        logs.map((l) => [l.attempt, l.status, l.statusCode, l.error]),
        [
          [3, 'FAILED', 500, 'HTTP 500'],
          [2, 'FAILED', 500, 'HTTP 500'],
          [1, 'FAILED', 500, 'HTTP 500'],
        ],
      );
      const metrics = await worker.metrics.registry.metrics();
      assert.match(metrics, /callgate_webhook_attempts_total\{outcome="http_error"\} 3/);
      assert.match(metrics, /callgate_webhook_deliveries_failed_total\{reason="exhausted"\} 1/);
      await cleanup();
    });

    test('a receiver that times out: the attempt is logged without a status code and retried', async () => {
      const { receiver, webhook } = await setup({ worker: { webhookTimeoutMs: 150, webhookRetryScheduleMs: [0, 50] } });
      receiver.hang();
      await emit([{ type: 'call.ended' }]);
      const delivery = await eventually(
        async () => {
          const [d] = await listDeliveriesForWebhook(t.store.db, webhook.id);
          return d?.status === 'FAILED' ? d : null;
        },
        5000,
        'the delivery to be FAILED',
      );
      assert.equal(delivery.attempts, 2);
      assert.equal(receiver.requests.length, 2);
      const logs = await logsOf(webhook.id);
      assert.equal(logs.length, 2);
      for (const l of logs) {
        assert.equal(l.statusCode, null);
        assert.match(l.error, /timed out after 150 ms/);
        assert.ok(l.durationMs >= 140, `took the timeout, got ${l.durationMs}`);
      }
      await cleanup();
    });

    test('410 Gone disables the webhook and fails its pending deliveries', async () => {
      const { receiver, webhook } = await setup({
        worker: { webhookRetryScheduleMs: [0, 50, 50, 50] },
        options: { perWebhookInFlight: 1 },
      });
      receiver.status(410);
      await emit([{ type: 'call.ringing' }, { type: 'call.connected' }, { type: 'call.ended' }]);
      const got = await eventually(
        async () => {
          const res = await t.app.inject({
            method: 'GET',
            url: `/v1/webhooks/${webhook.id}`,
            headers: { 'x-api-key': t.numberA.key.key },
          });
          const body = res.json() as { active: boolean; disabledReason: string | null };
          return body.active === false ? body : null;
        },
        3000,
        'the webhook to be disabled',
      );
      assert.match(got.disabledReason ?? '', /410/);
      await sleep(200);
      assert.equal(receiver.requests.length, 1, 'nothing is sent after the 410');
      const deliveries = await listDeliveriesForWebhook(t.store.db, webhook.id);
      assert.deepEqual(
        deliveries.map((d) => d.status),
        ['FAILED', 'FAILED', 'FAILED'],
      );
      assert.ok(deliveries.every((d) => /410/.test(d.lastError ?? '')));
      await emit([{ type: 'call.missed' }]);
      await sleep(150);
      assert.equal(receiver.requests.length, 1, 'a disabled webhook gets no new events');
      assert.equal((await listDeliveriesForWebhook(t.store.db, webhook.id)).length, 3);
      await cleanup();
    });

    test('tries under way when a 410 lands settle by their own answer: a 2xx stays a success, a 5xx is not retried', async () => {
      const { receiver, webhook } = await setup({
        worker: { webhookRetryScheduleMs: [0, 50, 50, 50] },
        options: { perWebhookInFlight: 3 },
      });
      // Three calls' events in flight at once: the first two answered late, the third gone at once.
      receiver.queue(
        { kind: 'status', status: 200, delayMs: 400 },
        { kind: 'status', status: 500, delayMs: 400 },
        { kind: 'status', status: 410 },
      );
      await emit([
        { type: 'call.ringing', callId: 'call_01GONERACE0000000000000001', sequence: 1 },
        { type: 'call.ringing', callId: 'call_01GONERACE0000000000000002', sequence: 1 },
        { type: 'call.ringing', callId: 'call_01GONERACE0000000000000003', sequence: 1 },
      ]);
      await receiver.waitFor((rs) => rs.length === 3, 3000, 'three tries at once');
      const [answered, failing, gone] = receiver.requests.map((r) => (r.body as { eventId: EventId }).eventId);
      const statusOf = async () =>
        new Map((await listDeliveriesForWebhook(t.store.db, webhook.id)).map((d) => [d.eventId, d]));
      const settled = await eventually(
        async () => {
          const by = await statusOf();
          return [...by.values()].every((d) => d.status !== 'PENDING') ? by : null;
        },
        3000,
        'every delivery settled',
      );
      assert.equal(settled.get(answered!)?.status, 'SUCCESS', 'its receiver got it and said so');
      assert.equal(settled.get(gone!)?.status, 'FAILED');
      assert.equal(settled.get(failing!)?.status, 'FAILED', 'not left to be tried again');
      assert.match(settled.get(failing!)?.lastError ?? '', /webhook disabled: .*410/);
      await sleep(300);
      assert.equal(receiver.requests.length, 3, 'nothing is sent after the 410');
      await cleanup();
    });

    test('429 with Retry-After is honoured even when the schedule is shorter', async () => {
      const { receiver, webhook } = await setup({ worker: { webhookRetryScheduleMs: [0, 20, 20] } });
      receiver.queue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
      const [id] = await emit([{ type: 'call.ended' }]);
      await receiver.waitFor((rs) => rs.length === 2, 4000, 'the retry');
      const gap = receiver.requests[1]!.at - receiver.requests[0]!.at;
      assert.ok(gap >= 950, `waited for Retry-After (1 s), got ${gap} ms`);
      assert.equal(receiver.requests[1]!.headers['webhook-attempt'], '2');
      assert.equal(receiver.requests[1]!.headers['webhook-id'], id);
      await eventually(
        async () => (await listDeliveriesForWebhook(t.store.db, webhook.id))[0]?.status === 'SUCCESS',
        2000,
        'SUCCESS',
      );
      const logs = await logsOf(webhook.id);
      assert.deepEqual(
        logs.map((l) => [l.attempt, l.status, l.statusCode]),
        [
          [2, 'SUCCESS', 200],
          [1, 'FAILED', 429],
        ],
      );
      await cleanup();
    });

    test('a redirect is a failed attempt and its Location is never followed', async () => {
      const elsewhere = await startWebhookReceiver();
      const { receiver, webhook } = await setup({ worker: { webhookRetryScheduleMs: [0] } });
      receiver.status(302, { location: elsewhere.url });
      await emit([{ type: 'call.ended' }]);
      await eventually(
        async () => (await listDeliveriesForWebhook(t.store.db, webhook.id))[0]?.status === 'FAILED',
        3000,
        'FAILED',
      );
      const [log] = await logsOf(webhook.id);
      assert.equal(log.statusCode, 302);
      assert.match(log.error, /redirects are not followed/);
      assert.equal(elsewhere.requests.length, 0);
      await elsewhere.close();
      await cleanup();
    });

    test("one hanging receiver does not delay a second receiver's events by more than a second", async () => {
      const hanging = await setup({
        worker: { webhookTimeoutMs: 10_000 },
        options: { stopGraceMs: 50, perWebhookInFlight: 4 },
      });
      hanging.receiver.hang();
      const healthy = await startWebhookReceiver();
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { url: healthy.url, events: ['*'] },
      });
      assert.equal(res.statusCode, 201);
      const started = Date.now();
      const ids = await emit(Array.from({ length: 20 }, () => ({ type: 'call.ringing' })));
      await healthy.waitFor(
        (rs) => new Set(rs.map((r) => r.body.eventId)).size === ids.length,
        5000,
        'every event at the healthy receiver',
      );
      const lastArrival = Math.max(...healthy.requests.map((r) => r.at));
      assert.ok(lastArrival - started < 1000, `all 20 events within a second, took ${lastArrival - started} ms`);
      assert.ok(hanging.receiver.requests.length <= 4, 'the hanging receiver only holds its own slots');
      await t.app.inject({
        method: 'DELETE',
        url: `/v1/webhooks/${res.json().id}`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      await healthy.close();
      await cleanup();
    });

    test('events of one call due together arrive in sequence order', async () => {
      const { receiver } = await setup();
      receiver.slow(15);
      const callId = 'call_01ORDER000000000000000000';
      await emit([1, 2, 3, 4, 5].map((sequence) => ({ type: 'call.ringing', callId, sequence })));
      await receiver.waitFor((rs) => rs.length === 5, 5000, 'five events');
      assert.deepEqual(
        receiver.requests.map((r) => r.body.sequence),
        [1, 2, 3, 4, 5],
      );
      await cleanup();
    });

    test("many calls' events to two webhooks, claimed and recorded in batches: each once per webhook, each call in order", async () => {
      const { receiver } = await setup();
      const other = await startWebhookReceiver();
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { url: other.url, events: ['*'] },
      });
      assert.equal(res.statusCode, 201);
      receiver.slow(3);
      other.slow(1);
      const calls = Array.from({ length: 12 }, (_, i) => `call_01BATCH${String(i).padStart(17, '0')}`);
      const ids: string[] = [];
      // Sequences 1-2 of every call due together, then 3-5 a moment later while earlier ones may be in flight.
      ids.push(
        ...(await emit(
          calls.flatMap((callId) => [1, 2].map((sequence) => ({ type: 'call.ringing', callId, sequence }))),
        )),
      );
      ids.push(
        ...(await emit(
          calls.flatMap((callId) => [3, 4, 5].map((sequence) => ({ type: 'call.connected', callId, sequence }))),
        )),
      );
      for (const r of [receiver, other]) {
        await r.waitFor(
          (rs) => new Set(rs.map((x) => x.headers['webhook-id'])).size === ids.length,
          10_000,
          'every event',
        );
      }
      await sleep(100);
      for (const r of [receiver, other]) {
        assert.equal(r.requests.length, ids.length, 'no event sent twice');
        for (const callId of calls) {
          const seen = r.requests.filter((x) => x.body.id === callId).map((x) => x.body.sequence);
          assert.deepEqual(seen, [1, 2, 3, 4, 5], `${callId} in sequence order`);
        }
      }
      await t.app.inject({
        method: 'DELETE',
        url: `/v1/webhooks/${res.json().id}`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      await other.close();
      await cleanup();
    });

    test('two workers on one store never send the same event twice', async () => {
      const { receiver } = await setup({ options: { batchSize: 3 } });
      receiver.slow(5);
      const second = startTestWorker(t.store.db, workerConfig(), { options: { batchSize: 3 } });
      const ids = await emit(Array.from({ length: 40 }, () => ({ type: 'call.ringing' })));
      await receiver.waitFor((rs) => rs.length >= ids.length, 10_000, 'every event');
      await sleep(200);
      const seen = receiver.requests.map((r) => r.headers['webhook-id']);
      assert.equal(seen.length, ids.length, 'exactly one request per event');
      assert.deepEqual(new Set(seen), new Set(ids));
      await second.stop();
      await cleanup();
    });

    test('stop() gives back the leases of attempts it abandons, so another worker takes them at once', async () => {
      const { receiver, webhook, worker } = await setup({ worker: { webhookTimeoutMs: 10_000 } });
      receiver.hang();
      const [id] = await emit([{ type: 'call.ended' }]);
      await receiver.waitFor((rs) => rs.length === 1);
      const stopping = Date.now();
      await worker.worker.stop(100);
      // Bounded by the 100 ms grace, not by the hung try (10 s) nor the default grace (5 s); a slow machine has seconds.
      assert.ok(Date.now() - stopping < 4000, `a bounded stop: ${Date.now() - stopping} ms`);
      const [d] = await listDeliveriesForWebhook(t.store.db, webhook.id);
      assert.deepEqual([d!.status, d!.attempts], ['PENDING', 0], 'the abandoned try is not counted');
      receiver.ok();
      const next = startTestWorker(t.store.db, workerConfig());
      // The lease it would otherwise wait out is 21 s (2 × the 10 s timeout + 1 s).
      await receiver.waitFor((rs) => rs.length === 2, 10_000, 'the next worker to send it (no lease to wait out)');
      assert.equal(receiver.requests[1]!.headers['webhook-id'], id);
      await next.stop();
      await cleanup();
    });
  });
}
