// /v1/webhooks with either key scope: who may register for which number, who sees what, and that
// secrets only ever appear at creation and rotation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  emitEvents,
  startTestWorker,
  type TestWorker,
  verifyWith,
  workerConfig,
} from '../../../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { storeKinds, TEST_SECRET_KEY } from '../../../../test/helpers/stores.ts';
import { SecretBox } from '../../../auth/secret-box.ts';
import { HELD_UNTIL } from '../../../store/deliveries.ts';

interface LogEntry {
  id: string;
  event: string;
  eventId: string;
  attempt: number;
  status: string;
  statusCode: number | null;
  durationMs: number;
  payload: unknown;
  response: string | null;
  createdAt: string;
}

for (const kind of storeKinds()) {
  describe(`webhook routes [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let worker: TestWorker;

    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
      receiver = await startWebhookReceiver();
      worker = startTestWorker(t.store.db, workerConfig());
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await t.close();
    });

    const tenant = () => ({ 'x-api-key': t.tenantKey.key });
    const keyA = () => ({ 'x-api-key': t.numberA.key.key });
    const keyB = () => ({ 'x-api-key': t.numberB.key.key });

    async function create(headers: Record<string, string>, payload: Record<string, unknown>) {
      return t.app.inject({ method: 'POST', url: '/v1/webhooks', headers, payload });
    }

    let tags = 0;
    /** Each webhook gets its own path on the receiver, so a test sees only its own deliveries. */
    async function createFor(headers: Record<string, string>, extra: Record<string, unknown> = {}) {
      const path = `/w${++tags}`;
      const res = await create(headers, { url: receiver.url + path, events: ['*'], ...extra });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json() as { id: string; secret: string; whatsappNumberId: string };
      return { ...body, received: () => receiver.requests.filter((r) => r.path === `/hook${path}`) };
    }

    test('a number key registers for its own number and gets a whsec_ secret once', async () => {
      const res = await create(keyA(), { url: receiver.url, name: 'CRM', events: ['call.ended', 'call.ringing'] });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.match(body.id, /^whk_[0-9A-Z]{26}$/);
      assert.match(body.secret, /^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
      assert.equal(Buffer.from(body.secret.slice(6), 'base64').length >= 24, true);
      assert.deepEqual(
        {
          name: body.name,
          url: body.url,
          events: body.events,
          active: body.active,
          whatsappNumberId: body.whatsappNumberId,
          disabledReason: body.disabledReason,
        },
        {
          name: 'CRM',
          url: receiver.url,
          events: ['call.ended', 'call.ringing'],
          active: true,
          whatsappNumberId: t.numberA.id,
          disabledReason: null,
        },
      );

      const get = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${body.id}`, headers: keyA() });
      assert.equal(get.statusCode, 200);
      assert.equal(get.json().id, body.id);
      assert.ok(!get.body.includes(body.secret), 'GET never returns the secret');
      assert.equal('secret' in get.json(), false);
      const list = await t.app.inject({ method: 'GET', url: '/v1/webhooks', headers: keyA() });
      assert.ok(!list.body.includes('whsec_'), 'the list never returns a secret');
      assert.ok(Array.isArray(list.json()), "Pilot's list is a bare array");
      assert.ok(list.json().some((w: { id: string }) => w.id === body.id));
    });

    test('a number key naming its own number is fine; naming another is 400 NUMBER_MISMATCH', async () => {
      assert.equal(
        (await create(keyA(), { url: receiver.url, events: [], whatsappNumberId: t.numberA.id })).statusCode,
        201,
      );
      const res = await create(keyA(), { url: receiver.url, events: ['*'], whatsappNumberId: t.numberB.id });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'NUMBER_MISMATCH');
    });

    test('a tenant key must name whatsappNumberId, and one of its own numbers', async () => {
      const missing = await create(tenant(), { url: receiver.url, events: ['*'] });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().code, 'NUMBER_REQUIRED');
      const unknown = await create(tenant(), {
        url: receiver.url,
        events: ['*'],
        whatsappNumberId: 'num_01JD3Q4AAAAAAAAAAAAAAAAAAA',
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().code, 'NUMBER_NOT_FOUND');
      const ok = await create(tenant(), { url: receiver.url, events: ['*'], whatsappNumberId: t.numberB.id });
      assert.equal(ok.statusCode, 201, ok.body);
      assert.equal(ok.json().whatsappNumberId, t.numberB.id);
    });

    test('no key is 401; an unknown event name or a bad URL is 400 VALIDATION_ERROR', async () => {
      assert.equal((await create({}, { url: receiver.url, events: ['*'] })).json().code, 'UNAUTHORIZED');
      const badEvent = await create(keyA(), { url: receiver.url, events: ['call.exploded'] });
      assert.equal(badEvent.statusCode, 400);
      assert.equal(badEvent.json().code, 'VALIDATION_ERROR');
      const badUrl = await create(keyA(), { url: 'ftp://example.com/hook', events: ['*'] });
      assert.equal(badUrl.statusCode, 400);
      assert.equal(badUrl.json().code, 'VALIDATION_ERROR');
      assert.match(badUrl.json().details.reason, /http/);
    });

    test("another number's webhook is 404 WEBHOOK_NOT_FOUND on every route; the tenant key sees both", async () => {
      const ofB = await createFor(keyB());
      const probes = [
        { method: 'GET' as const, url: `/v1/webhooks/${ofB.id}` },
        { method: 'PATCH' as const, url: `/v1/webhooks/${ofB.id}`, payload: { name: 'mine now' } },
        { method: 'DELETE' as const, url: `/v1/webhooks/${ofB.id}` },
        { method: 'POST' as const, url: `/v1/webhooks/${ofB.id}/rotate-secret` },
        { method: 'GET' as const, url: `/v1/webhooks/${ofB.id}/logs` },
        {
          method: 'POST' as const,
          url: `/v1/webhooks/${ofB.id}/replay`,
          payload: { eventId: 'evt_01JD3QAXAAAAAAAAAAAAAAAAAA' },
        },
      ];
      for (const probe of probes) {
        const res = await t.app.inject({ ...probe, headers: keyA() });
        assert.equal(res.statusCode, 404, `${probe.method} ${probe.url}: ${res.body}`);
        assert.equal(res.json().code, 'WEBHOOK_NOT_FOUND');
      }
      const listA = (await t.app.inject({ method: 'GET', url: '/v1/webhooks', headers: keyA() })).json() as {
        id: string;
        whatsappNumberId: string;
      }[];
      assert.ok(
        listA.every((w) => w.whatsappNumberId === t.numberA.id),
        "a number key lists only its number's webhooks",
      );
      const listTenant = (await t.app.inject({ method: 'GET', url: '/v1/webhooks', headers: tenant() })).json() as {
        id: string;
      }[];
      assert.ok(listTenant.some((w) => w.id === ofB.id));
      assert.equal(
        (await t.app.inject({ method: 'GET', url: `/v1/webhooks/${ofB.id}`, headers: tenant() })).statusCode,
        200,
      );
      const still = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${ofB.id}`, headers: keyB() });
      assert.equal(still.json().name, new URL(receiver.url).hostname, 'untouched by the refused PATCH');
    });

    test('PATCH replaces events, re-checks the url, pauses and resumes; DELETE is 200 {success, id} then 404', async () => {
      const w = await createFor(keyA(), { events: ['call.ringing', 'call.ended'] });
      const patched = await t.app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${w.id}`,
        headers: keyA(),
        payload: { events: ['call.missed'], name: 'ops' },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.deepEqual(patched.json().events, ['call.missed']);
      assert.equal(patched.json().name, 'ops');
      assert.ok(!patched.body.includes('whsec_'));

      const badUrl = await t.app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${w.id}`,
        headers: keyA(),
        payload: { url: 'javascript:alert(1)' },
      });
      assert.equal(badUrl.statusCode, 400);
      assert.equal(badUrl.json().code, 'VALIDATION_ERROR');

      const paused = await t.app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${w.id}`,
        headers: keyA(),
        payload: { active: false },
      });
      assert.equal(paused.json().active, false);
      const resumed = await t.app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${w.id}`,
        headers: tenant(),
        payload: { active: true },
      });
      assert.equal(resumed.json().active, true);

      const del = await t.app.inject({ method: 'DELETE', url: `/v1/webhooks/${w.id}`, headers: keyA() });
      assert.equal(del.statusCode, 200);
      assert.deepEqual(del.json(), { success: true, id: w.id });
      const gone = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${w.id}`, headers: keyA() });
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.json().code, 'WEBHOOK_NOT_FOUND');
    });

    test('a paused webhook keeps the events of its pause and gets them, in order, when resumed', async () => {
      const w = await createFor(keyA(), { events: ['*'] });
      const patch = (active: boolean) =>
        t.app.inject({ method: 'PATCH', url: `/v1/webhooks/${w.id}`, headers: keyA(), payload: { active } });
      assert.equal((await patch(false)).statusCode, 200);
      const callId = 'call_01PAUSETEST000000000000000';
      const during = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.ringing', callId, sequence: 1 },
        { type: 'call.ended', callId, sequence: 2 },
      ]);
      // A third, held since long before: past the retry schedule's whole span, it fails at the resume instead.
      const [stale] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.missed', callId: 'call_01PAUSESTALE00000000000000', sequence: 1 },
      ]);
      await t.store.db.execute('UPDATE deliveries SET created_at = $1, updated_at = $1 WHERE event_id = $2', [
        new Date(Date.now() - 30 * 86_400_000).toISOString(),
        stale!,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(w.received().length, 0, 'nothing is sent while paused');
      const held = await t.store.db.query<{ next_attempt_at: string }>(
        "SELECT next_attempt_at FROM deliveries WHERE webhook_id = $1 AND status = 'PENDING'",
        [w.id],
      );
      assert.deepEqual(
        held.map((r) => r.next_attempt_at),
        [HELD_UNTIL, HELD_UNTIL, HELD_UNTIL],
        'held: no poll finds them due',
      );
      assert.equal((await patch(true)).statusCode, 200);
      await receiver.waitFor(() => w.received().length === 2, 5000, 'the events of the pause');
      assert.deepEqual(
        w.received().map((r) => r.body.eventId),
        during,
        'both, in order',
      );
      const [expired] = await t.store.db.query<{ status: string; last_error: string }>(
        'SELECT status, last_error FROM deliveries WHERE event_id = $1',
        [stale!],
      );
      assert.equal(expired?.status, 'FAILED');
      assert.match(expired?.last_error ?? '', /paused for longer than the retry schedule/);
    });

    test('events taken out of a webhook are not sent any more, even those already waiting for it', async () => {
      const w = await createFor(keyA(), { events: ['call.ringing', 'call.ended'] });
      const patch = (payload: object) =>
        t.app.inject({ method: 'PATCH', url: `/v1/webhooks/${w.id}`, headers: keyA(), payload });
      assert.equal((await patch({ active: false })).statusCode, 200);
      const callId = 'call_01UNSUBSCRIBED0000000000000';
      const [ringing, ended] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.ringing', callId, sequence: 1 },
        { type: 'call.ended', callId, sequence: 2 },
      ]);
      assert.equal((await patch({ events: ['call.ended'] })).statusCode, 200);
      assert.equal((await patch({ active: true })).statusCode, 200);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event still subscribed to');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(
        w.received().map((r) => r.body.eventId),
        [ended],
      );
      const [dropped] = await t.store.db.query<{ status: string; last_error: string }>(
        'SELECT status, last_error FROM deliveries WHERE event_id = $1 AND webhook_id = $2',
        [ringing!, w.id],
      );
      assert.equal(dropped?.status, 'FAILED');
      assert.match(dropped?.last_error ?? '', /no longer subscribes/);
    });

    test('logs list attempts newest first and filter by event; replay resends with the same webhook-id', async () => {
      const w = await createFor(keyA(), { events: ['call.ringing', 'call.ended'] });
      const [ringing, ended] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.ringing', callId: 'call_01LOGSTEST0000000000000000', sequence: 1 },
        { type: 'call.ended', callId: 'call_01LOGSTEST0000000000000000', sequence: 2 },
      ]);
      await receiver.waitFor(() => w.received().length === 2, 5000, 'both events');
      assert.deepEqual(
        w.received().map((r) => r.body.event),
        ['call.ringing', 'call.ended'],
        'in sequence order',
      );

      const logs = await eventually(
        async () => {
          const res = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${w.id}/logs`, headers: keyA() });
          const entries = res.json().logs as LogEntry[];
          return entries.length === 2 ? entries : null;
        },
        3000,
        'two log entries',
      );
      assert.deepEqual(
        logs.map((l) => l.event),
        ['call.ended', 'call.ringing'],
        'newest first',
      );
      for (const l of logs) {
        assert.equal(l.status, 'SUCCESS');
        assert.equal(l.statusCode, 200);
        assert.equal(l.attempt, 1);
        assert.match(l.id, /^att_/);
        assert.equal(typeof l.durationMs, 'number');
        assert.equal('error' in l, false);
        assert.equal(l.response, 'ok', "the receiver's answer");
        assert.equal((l.payload as { event: string }).event, l.event, 'the JSON body delivered');
      }
      assert.deepEqual(
        logs[0]?.payload,
        w.received().find((r) => r.body.event === 'call.ended')?.body,
        'payload is exactly what the receiver got',
      );
      const listed = (await t.app.inject({ method: 'GET', url: `/v1/webhooks/${w.id}`, headers: keyA() })).json();
      assert.equal(listed.lastTriggered, logs[0]?.createdAt, 'lastTriggered is the latest attempt');
      const filtered = await t.app.inject({
        method: 'GET',
        url: `/v1/webhooks/${w.id}/logs?event=call.ringing&limit=1`,
        headers: tenant(),
      });
      assert.deepEqual(
        (filtered.json().logs as LogEntry[]).map((l) => l.eventId),
        [ringing],
      );
      // Pilot's own event names filter too: callgate never sends those, so nothing matches.
      const pilotOnly = await t.app.inject({
        method: 'GET',
        url: `/v1/webhooks/${w.id}/logs?event=message.received&limit=50`,
        headers: tenant(),
      });
      assert.equal(pilotOnly.statusCode, 200, pilotOnly.body);
      assert.deepEqual(pilotOnly.json(), { logs: [] });
      const unknown = await t.app.inject({
        method: 'GET',
        url: `/v1/webhooks/${w.id}/logs?event=call.nope`,
        headers: keyA(),
      });
      assert.equal(unknown.statusCode, 400, 'a name neither callgate nor Pilot has is still refused');
      const tooMany = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${w.id}/logs?limit=51`, headers: keyA() });
      assert.equal(tooMany.statusCode, 400);

      const replay = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/${w.id}/replay`,
        headers: keyA(),
        payload: { eventId: ended },
      });
      assert.equal(replay.statusCode, 202, replay.body);
      assert.deepEqual(replay.json(), { webhookId: w.id, eventId: ended, event: 'call.ended', status: 'PENDING' });
      await receiver.waitFor(
        () => w.received().filter((r) => r.body?.eventId === ended).length === 2,
        5000,
        'the replay',
      );
      const copies = w.received().filter((r) => r.body?.eventId === ended);
      assert.equal(copies[0]!.headers['webhook-id'], ended);
      assert.equal(copies[1]!.headers['webhook-id'], ended, 'same webhook-id on the replay');
      assert.equal(copies[1]!.rawBody, copies[0]!.rawBody, 'same body');
      assert.deepEqual(verifyWith(w.secret, copies[1]!), copies[0]!.body);
    });

    test("replay only takes events of the webhook's number", async () => {
      const w = await createFor(keyA(), { events: [] });
      const [ofB] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberB.id }, [
        { type: 'call.ringing' },
      ]);
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/${w.id}/replay`,
        headers: tenant(),
        payload: { eventId: ofB },
      });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'EVENT_NOT_FOUND');
    });

    test('replay refuses an event of a type the webhook does not subscribe to (400), and takes one it does', async () => {
      const w = await createFor(keyA(), { events: ['call.ended'] });
      const [ringing, ended] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.ringing' },
        { type: 'call.ended' },
      ]);
      const replay = (eventId: string | undefined) =>
        t.app.inject({ method: 'POST', url: `/v1/webhooks/${w.id}/replay`, headers: keyA(), payload: { eventId } });
      const refused = await replay(ringing);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.match(refused.json().details.reason, /does not subscribe to call.ringing/);
      assert.equal((await replay(ended)).statusCode, 202);
    });

    /** POST rotate-secret as number A; asserts the 200. */
    async function rotate(webhookId: string) {
      const rotated = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/${webhookId}/rotate-secret`,
        headers: keyA(),
      });
      assert.equal(rotated.statusCode, 200, rotated.body);
      return rotated;
    }

    test('rotate-secret shows a new secret once; for 24 h both secrets sign (standardwebhooks verifies either)', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const rotated = await rotate(w.id);
      const { secret, previousSecretExpiresAt } = rotated.json();
      assert.match(secret, /^whsec_/);
      assert.notEqual(secret, w.secret);
      const hours = (Date.parse(previousSecretExpiresAt) - Date.now()) / 3_600_000;
      assert.ok(hours > 23.9 && hours <= 24, `old secret valid 24 h, got ${hours}`);
      const get = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${w.id}`, headers: keyA() });
      assert.ok(!get.body.includes(secret) && !get.body.includes(w.secret));

      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.equal(
        String(delivery.headers['webhook-signature']).split(' ').length,
        2,
        'two signatures during the overlap',
      );
      assert.equal(verifyWith(w.secret, delivery).eventId, id, 'the old secret verifies');
      assert.equal(verifyWith(secret, delivery).eventId, id, 'the new secret verifies');
    });

    test('rotated twice within a day: the first secret signs on beside the second and the third', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const second = (await rotate(w.id)).json().secret;
      const third = (await rotate(w.id)).json().secret;
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.equal(String(delivery.headers['webhook-signature']).split(' ').length, 3, 'three signatures');
      for (const secret of [w.secret, second, third]) {
        assert.equal(verifyWith(secret, delivery).eventId, id);
      }
    });

    test('a secret sealed under an earlier SECRET_KEY: rotating recovers the webhook, the new secret alone signs', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const otherKey = new SecretBox('a SECRET_KEY this server never had');
      await t.store.db.execute('UPDATE webhooks SET secret = $1 WHERE id = $2', [otherKey.seal(w.secret), w.id]);
      const { secret, previousSecretExpiresAt } = (await rotate(w.id)).json();
      assert.ok(Date.parse(previousSecretExpiresAt) <= Date.now(), 'the answer does not promise an old secret signs');
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.match(String(delivery.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/, 'one signature');
      assert.equal(verifyWith(secret, delivery).eventId, id);
    });

    test('two rotations at once: each takes the other’s secret as a previous one, all three sign', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const [a, b] = await Promise.all([rotate(w.id), rotate(w.id)]);
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.equal(String(delivery.headers['webhook-signature']).split(' ').length, 3, 'three signatures');
      for (const secret of [w.secret, a.json().secret, b.json().secret]) {
        assert.equal(verifyWith(secret, delivery).eventId, id);
      }
    });

    test('a previous-secret list that is not JSON: rotating recovers the webhook, the new secret alone signs', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const box = new SecretBox(TEST_SECRET_KEY);
      const corrupt = `[{"secret":"${w.secret}"`;
      await t.store.db.execute(
        'UPDATE webhooks SET previous_secret = $1, previous_secret_expires_at = $2 WHERE id = $3',
        [box.seal(corrupt), new Date(Date.now() + 3_600_000).toISOString(), w.id],
      );
      const rotated = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/${w.id}/rotate-secret`,
        headers: keyA(),
      });
      assert.equal(rotated.statusCode, 200, rotated.body);
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.equal(String(delivery.headers['webhook-signature']).split(' ').length, 2, 'the replaced one and the new');
      assert.equal(verifyWith(rotated.json().secret, delivery).eventId, id);
      assert.equal(verifyWith(w.secret, delivery).eventId, id);
    });

    test('a previous-secret entry that cannot sign is skipped: the delivery goes out, signed by the rest', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const box = new SecretBox(TEST_SECRET_KEY);
      const later = new Date(Date.now() + 3_600_000).toISOString();
      await t.store.db.execute(
        'UPDATE webhooks SET previous_secret = $1, previous_secret_expires_at = $2 WHERE id = $3',
        [box.seal(JSON.stringify([{ secret: 'whsec_', expiresAt: later }])), later, w.id],
      );
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.match(String(delivery.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/, 'one signature');
      assert.equal(verifyWith(w.secret, delivery).eventId, id);
    });

    test('once the 24 h overlap is over, only the new secret signs', async () => {
      const w = await createFor(keyA(), { events: ['call.connected'] });
      const rotated = await rotate(w.id);
      const { secret } = rotated.json();
      // The rotation a day and a second ago.
      await t.store.db.execute('UPDATE webhooks SET previous_secret_expires_at = $1 WHERE id = $2', [
        new Date(Date.now() - 1000).toISOString(),
        w.id,
      ]);
      const [id] = await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [
        { type: 'call.connected' },
      ]);
      await receiver.waitFor(() => w.received().length === 1, 5000, 'the event');
      const delivery = w.received()[0]!;
      assert.match(String(delivery.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/, 'one signature');
      assert.equal(verifyWith(secret, delivery).eventId, id, 'the new secret verifies');
      assert.throws(() => verifyWith(w.secret, delivery), /signature/i, 'the old secret no longer does');
    });

    test('GET /metrics exposes the delivery metrics without a key', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/plain/);
      assert.match(res.body, /callgate_webhook_backlog_size \d+/);
      assert.match(res.body, /callgate_webhook_backlog_oldest_age_seconds [\d.]+/);
      assert.match(res.body, /# TYPE callgate_webhook_attempts_total counter/);
    });
  });
}
