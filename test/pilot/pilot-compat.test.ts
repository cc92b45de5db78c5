// A Pilot Status client (./pilot-client.ts, written from Pilot's documented requests) against callgate, endpoint by
// endpoint of docs/spec/pilot-compat.md: it must run unchanged and read Pilot's shapes back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newNumberId } from '../../src/ids.ts';
import { listAttemptsForWebhook } from '../../src/store/delivery-attempts.ts';
import { insertNumber } from '../../src/store/numbers.ts';
import { emitEvents, startTestWorker, type TestWorker, verifyWith, workerConfig } from '../e2e/webhook-helpers.ts';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../fakes/meta-graph.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { nextPeer, ringingCall } from '../helpers/calls.ts';
import { storeKinds } from '../helpers/stores.ts';
import { PilotClient } from './pilot-client.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of storeKinds()) {
  describe(`a Pilot Status client against callgate [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let worker: TestWorker;
    let tenant: PilotClient;
    let numberA: PilotClient;

    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
      receiver = await startWebhookReceiver();
      worker = startTestWorker(t.store.db, workerConfig());
      tenant = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.tenantKey.key });
      numberA = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberA.key.key });
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await t.close();
    });

    let paths = 0;
    const hookUrl = () => `${receiver.url}/p${++paths}`;
    const receivedAt = (url: string) => receiver.requests.filter((r) => url.endsWith(r.path.replace(/^\/hook/, '')));

    describe('calls', () => {
      test('GET /v1/calls without a limit answers 25 calls, newest first', async () => {
        for (let i = 0; i < 26; i++) {
          await ringingCall(t, t.numberB);
        }
        const numberB = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
        const res = await numberB.listCalls();
        assert.equal(res.status, 200);
        assert.equal(res.body.calls.length, 25, "Pilot's default page");
        const times = res.body.calls.map((c: { createdAt: string }) => c.createdAt);
        assert.deepEqual(times, [...times].sort().reverse());
      });

      test('an inbound call is read, pre-accepted, accepted and terminated with Pilot requests', async () => {
        const call = await ringingCall(t);
        const got = await numberA.getCall(call.id);
        assert.equal(got.status, 200);
        assert.equal(got.body.status, 'RINGING');
        assert.equal((await numberA.preAcceptCall(call.id, CANNED_ANSWER_SDP)).status, 200);
        const accepted = await numberA.acceptCall(call.id, CANNED_ANSWER_SDP);
        assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
        const ended = await numberA.terminateCall(call.id);
        assert.equal(ended.status, 200);
        assert.equal(ended.body.success, true);
        const events = await numberA.callEvents(call.id);
        assert.equal(events.status, 200);
        assert.ok(events.body.events.length >= 3);
      });

      test("a business-initiated call starts with Pilot's body and can be hung up", async () => {
        const peer = nextPeer();
        t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
        const res = await numberA.createCall({ to: `+${peer}`, sdp: CANNED_OFFER_SDP, bizOpaqueCallbackData: 'o-1' });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.match(res.body.id, /^call_/);
        const call = (await numberA.getCall(res.body.id)).body;
        assert.equal(call.direction, 'OUTBOUND');
        assert.equal(call.peerNumber, peer);
        assert.equal((await numberA.terminateCall(res.body.id)).body.success, true);
      });

      test('a client that writes unset fields as null (Jackson, Newtonsoft, pydantic) is read as leaving them out', async () => {
        const peer = nextPeer();
        t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
        const res = await numberA.request('POST', '/v1/calls', {
          to: `+${peer}`,
          sdp: CANNED_OFFER_SDP,
          bizOpaqueCallbackData: null,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal((await numberA.getCall(res.body.id)).body.bizOpaqueCallbackData, null);
        assert.equal((await numberA.terminateCall(res.body.id)).status, 200);

        const url = hookUrl();
        const hook = await numberA.request('POST', '/v1/webhooks', { url, name: null, events: null });
        assert.equal(hook.status, 201, JSON.stringify(hook.body));
        assert.equal(hook.body.name, new URL(url).hostname, 'the name a webhook gets when it is given none');
        assert.deepEqual(hook.body.events, [], 'as when none are named');

        const required = await numberA.request('POST', '/v1/calls', { to: null, sdp: CANNED_OFFER_SDP });
        assert.equal(required.status, 400, 'a required field is still required');
        assert.equal(required.body.code, 'VALIDATION_ERROR');
        // In a PATCH a null may mean "clear it": it is refused rather than read as "leave it".
        const patched = await numberA.request('PATCH', `/v1/webhooks/${hook.body.id}`, { name: null });
        assert.equal(patched.status, 400);
      });

      test('reject answers Pilot success', async () => {
        const call = await ringingCall(t);
        const res = await numberA.rejectCall(call.id);
        assert.equal(res.status, 200);
        assert.equal(res.body.success, true);
      });

      test('a bodyless action is not refused for the Content-Type its client names', async () => {
        // axios and PHP's curl send a form Content-Type on a POST without data; Pilot's reject takes no body.
        const raw = (method: string, path: string, key: string, headers: Record<string, string>, body?: string) =>
          fetch(t.baseUrl + path, { method, headers: { 'x-api-key': key, ...headers }, body });
        const form = { 'content-type': 'application/x-www-form-urlencoded' };
        const call = await ringingCall(t);
        const rejected = await raw('POST', `/v1/calls/${call.id}/reject`, t.numberA.key.key, form, '');
        assert.equal(rejected.status, 200, await rejected.clone().text());
        assert.deepEqual(await rejected.json(), { success: true, id: call.id, status: 'REJECTED' });

        const w = (await numberA.createWebhook({ url: hookUrl() })).body;
        const text = { 'content-type': 'text/plain' };
        const rotated = await raw('POST', `/v1/webhooks/${w.id}/rotate-secret`, t.numberA.key.key, text);
        assert.equal(rotated.status, 200, 'no body at all');
        const deleted = await raw('DELETE', `/v1/webhooks/${w.id}`, t.numberA.key.key, text, '');
        assert.equal(deleted.status, 200, 'an empty body');

        const withBody = await raw('POST', `/v1/calls/${call.id}/reject`, t.numberA.key.key, text, 'hello');
        assert.equal(withBody.status, 415, 'a body that is there is still read by its type');
        assert.equal((await withBody.json()).code, 'UNSUPPORTED_MEDIA_TYPE');
      });

      test("PUT /v1/calls/settings takes Pilot's flat body and answers {success:true, calling}", async () => {
        const res = await numberA.updateCallSettings({ status: 'ENABLED', call_icon_visibility: 'DEFAULT' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.success, true);
        assert.equal(res.body.calling.status, 'ENABLED');
        assert.equal(res.body.calling.call_icon_visibility, 'DEFAULT');

        const wrapped = await numberA.request('PUT', '/v1/calls/settings', {
          calling: { callback_permission_status: 'ENABLED' },
        });
        assert.equal(wrapped.status, 200);
        assert.equal(wrapped.body.calling.callback_permission_status, 'ENABLED');
        assert.equal(wrapped.body.calling.status, 'ENABLED', 'partial: what was not sent stays');

        const read = await numberA.getCallSettings();
        assert.equal(read.body.calling.callback_permission_status, 'ENABLED');
      });

      test('settings: sip in either form is 400; a number below the 2,000/day tier gets a clear 400', async () => {
        for (const body of [{ sip: { status: 'ENABLED' } }, { calling: { sip: { status: 'ENABLED' } } }]) {
          const res = await numberA.updateCallSettings(body);
          assert.equal(res.status, 400);
          assert.equal(res.body.code, 'VALIDATION_ERROR');
        }
        const both = await numberA.updateCallSettings({ status: 'ENABLED', calling: { status: 'DISABLED' } });
        assert.equal(both.status, 400);

        t.fake.setMessagingLimit(t.numberB.phoneNumberId, 250);
        const numberB = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
        const low = await numberB.updateCallSettings({ status: 'ENABLED' });
        assert.equal(low.status, 400);
        assert.equal(low.body.code, 'VALIDATION_ERROR');
        assert.match(low.body.error, /messaging limit is below 2,000/);
        t.fake.setMessagingLimit(t.numberB.phoneNumberId, 100_000);
      });

      test('settings: a flat call_hours replaces the stored one whole (Meta semantics)', async () => {
        const hours = {
          status: 'ENABLED',
          timezone_id: 'America/Sao_Paulo',
          weekly_operating_hours: [{ day_of_week: 'MONDAY', open_time: '0900', close_time: '1800' }],
        };
        const withHoliday = {
          ...hours,
          holiday_schedule: [{ date: '2026-12-25', start_time: '0000', end_time: '2359' }],
        };
        const first = await numberA.updateCallSettings({ call_hours: withHoliday });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        assert.deepEqual(first.body.calling.call_hours, withHoliday);

        const replaced = await numberA.updateCallSettings({ call_hours: hours });
        assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
        const sent = t.fake.requests.filter((r) => r.edge === 'settings' && r.method === 'POST').at(-1);
        assert.deepEqual(sent?.body, { calling: { call_hours: hours } }, 'sent to Meta as given, not merged');
        assert.deepEqual(replaced.body.calling.call_hours, hours, 'the holiday_schedule left out is gone');
        assert.deepEqual((await numberA.getCallSettings()).body.calling.call_hours, hours);
      });

      test("settings: voicemail goes to Meta as given; Meta's refusal is a 400 with Meta's message", async () => {
        const before = (await numberA.getCallSettings()).body.calling;
        const voicemail = { status: 'ENABLED', greeting: { text: 'Leave a message' } };
        const res = await numberA.updateCallSettings({ voicemail });
        const sent = t.fake.requests.filter((r) => r.edge === 'settings' && r.method === 'POST').at(-1);
        assert.deepEqual(sent?.body, { calling: { voicemail } }, 'passed through unchanged, inside calling');
        // The fake, like a Graph version without voicemail, refuses the field.
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.code, 'VALIDATION_ERROR');
        assert.match(res.body.error, /Meta refused the settings: .*voicemail/);
        assert.match(String(res.body.details.providerMessage), /voicemail/);
        assert.deepEqual((await numberA.getCallSettings()).body.calling, before, 'nothing changed');
      });

      test('permissions: read and request', async () => {
        const peer = nextPeer();
        const read = await numberA.callPermissions(peer);
        assert.equal(read.status, 200);
        // As Pilot documents it (`?to=+5511…`), the + not percent-encoded: decoded as a space, it is still the +.
        const literal = await numberA.request('GET', `/v1/calls/permissions?to=+${peer}`);
        assert.equal(literal.status, 200, JSON.stringify(literal.body));
        assert.deepEqual(literal.body, read.body);
        const spaced = await numberA.request('GET', `/v1/calls/permissions?to=${peer}+1`);
        assert.equal(spaced.status, 400, 'a space anywhere else is still refused');
        const asked = await numberA.requestCallPermission(peer);
        assert.equal(asked.status, 200, JSON.stringify(asked.body));
      });
    });

    describe('webhooks', () => {
      test('a tenant key names the number with x-whatsapp-number-id; omitted events dispatch nothing', async () => {
        const url = hookUrl();
        const created = await tenant.forNumber(t.numberA.id).createWebhook({ url });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.deepEqual(created.body.events, []);
        assert.equal(created.body.name, '127.0.0.1', "the URL's hostname");
        assert.deepEqual(created.body.whatsappNumberIds, [t.numberA.id]);
        assert.equal(created.body.tenantId, t.tenantId);
        assert.equal(created.body.lastTriggered, null);
        assert.match(created.body.secret, /^whsec_/);

        const everything = hookUrl();
        await numberA.createWebhook({ url: everything, events: ['*'] });
        await ringingCall(t);
        await receiver.waitFor(() => receivedAt(everything).length > 0, 5000, 'the * webhook');
        await sleep(100);
        assert.equal(receivedAt(url).length, 0, 'a webhook without events gets nothing');
      });

      test('with a tenant key, x-whatsapp-number-id scopes every webhook route and the key list', async () => {
        const ofB = (await tenant.forNumber(t.numberB.id).createWebhook({ url: hookUrl() })).body;
        const asA = tenant.forNumber(t.numberA.id);
        const routes: [string, string, unknown?][] = [
          ['GET', `/v1/webhooks/${ofB.id}`],
          ['PATCH', `/v1/webhooks/${ofB.id}`, { active: false }],
          ['GET', `/v1/webhooks/${ofB.id}/logs`],
          ['POST', `/v1/webhooks/${ofB.id}/replay`, { eventId: 'evt_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P' }],
          ['POST', `/v1/webhooks/${ofB.id}/rotate-secret`],
          ['DELETE', `/v1/webhooks/${ofB.id}`],
        ];
        for (const [method, path, body] of routes) {
          const named = await asA.request(method, path, body);
          assert.equal(named.status, 404, `${method} ${path} naming another number`);
          assert.equal(named.body.code, 'WEBHOOK_NOT_FOUND');
          const unknown = await tenant.forNumber('num_nope').request(method, path, body);
          assert.equal(unknown.status, 404, `${method} ${path} naming no number of the tenant`);
          assert.equal(unknown.body.code, 'NUMBER_NOT_FOUND');
        }
        const untouched = await tenant.forNumber(t.numberB.id).request('GET', `/v1/webhooks/${ofB.id}`);
        assert.equal(untouched.status, 200);
        assert.equal(untouched.body.active, true, 'the PATCH naming another number changed nothing');

        const keys = await asA.request('GET', '/v1/api-keys');
        assert.equal(keys.status, 200);
        assert.deepEqual(
          keys.body.map((k: { numberId: string }) => k.numberId),
          [t.numberA.id],
        );
        assert.equal((await tenant.forNumber('num_nope').request('GET', '/v1/api-keys')).body.code, 'NUMBER_NOT_FOUND');
        assert.ok((await tenant.request('GET', '/v1/api-keys')).body.length >= 2, 'without the header: every number');
      });

      test("Pilot's message.* and number.* names are accepted and dropped; an undocumented name is 400", async () => {
        const created = await numberA.createWebhook({
          url: hookUrl(),
          events: ['call.ringing', 'message.received', 'number.connected', 'calls'],
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.deepEqual(created.body.events, ['call.ringing', 'calls']);
        const bad = await numberA.createWebhook({ url: hookUrl(), events: ['call.exploded'] });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.code, 'VALIDATION_ERROR');
        const patched = await numberA.updateWebhook(created.body.id, { events: ['message.sent', 'call.ended'] });
        assert.equal(patched.status, 200);
        assert.deepEqual(patched.body.events, ['call.ended']);
      });

      test("the `calls` event carries Meta's raw calls value with the SDP, signed like every delivery", async () => {
        const url = hookUrl();
        const w = (await numberA.createWebhook({ url, events: ['calls'] })).body;
        const call = await ringingCall(t);
        await receiver.waitFor(() => receivedAt(url).length > 0, 5000, 'the calls event');
        const [delivery] = receivedAt(url);
        assert.ok(delivery);
        const body = verifyWith(w.secret, delivery);
        assert.equal(body.event, 'calls');
        assert.match(body.eventId, /^evt_/);
        assert.equal(typeof body.occurredAt, 'string');
        assert.equal(body.data.metadata.phone_number_id, t.numberA.phoneNumberId);
        const [raw] = body.data.calls;
        assert.equal(raw.id, call.externalCallId);
        assert.equal(raw.event, 'connect');
        assert.match(raw.session.sdp, /^v=0/);
        await sleep(100);
        assert.ok(
          receivedAt(url).every((r) => r.body.event === 'calls'),
          'only the raw event: no call.* for this subscription',
        );
      });

      test('number errors: required, mismatch between header and body, unknown', async () => {
        const none = await tenant.createWebhook({ url: hookUrl(), events: ['*'] });
        assert.equal(none.status, 400);
        assert.equal(none.body.code, 'NUMBER_REQUIRED');
        const mismatch = await tenant
          .forNumber(t.numberA.id)
          .createWebhook({ url: hookUrl(), events: ['*'], whatsappNumberId: t.numberB.id });
        assert.equal(mismatch.status, 400);
        assert.equal(mismatch.body.code, 'NUMBER_MISMATCH');
        const unknown = await tenant.forNumber('num_nope').createWebhook({ url: hookUrl(), events: ['*'] });
        assert.equal(unknown.status, 404);
        assert.equal(unknown.body.code, 'NUMBER_NOT_FOUND');
        const ignored = await numberA.forNumber(t.numberB.id).createWebhook({ url: hookUrl() });
        assert.equal(ignored.status, 201, 'a number key ignores the header');
        assert.equal(ignored.body.whatsappNumberId, t.numberA.id);
      });

      test('GET /v1/webhooks is a bare array; the header narrows a tenant key to one number', async () => {
        await tenant.createWebhook({ url: hookUrl(), whatsappNumberId: t.numberB.id, events: ['call.ended'] });
        const all = await tenant.listWebhooks();
        assert.equal(all.status, 200);
        assert.ok(Array.isArray(all.body));
        const numbers = new Set(all.body.map((w: { whatsappNumberId: string }) => w.whatsappNumberId));
        assert.deepEqual([...numbers].sort(), [t.numberA.id, t.numberB.id].sort());
        const onlyB = await tenant.forNumber(t.numberB.id).listWebhooks();
        assert.ok(onlyB.body.length > 0);
        assert.ok(onlyB.body.every((w: { whatsappNumberIds: string[] }) => w.whatsappNumberIds[0] === t.numberB.id));
        const unknown = await tenant.forNumber('num_not_ours').listWebhooks();
        assert.equal(unknown.status, 404);
        assert.equal(unknown.body.code, 'NUMBER_NOT_FOUND');
        const mine = await numberA.listWebhooks();
        assert.ok(mine.body.every((w: { whatsappNumberId: string }) => w.whatsappNumberId === t.numberA.id));
        assert.ok(!JSON.stringify(all.body).includes('whsec_'));
      });

      test("a log's response is the first 4 KiB of the receiver's answer, whole characters only", async () => {
        const url = hookUrl();
        const numberB = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
        const w = (await numberB.createWebhook({ url, events: ['call.ringing'] })).body;
        // 4,095 ASCII bytes, then a 2-byte character across the 4,096-byte mark.
        const answer = `${'a'.repeat(4095)}é${'z'.repeat(8000)}`;
        receiver.setReply({ kind: 'status', status: 200, body: answer });
        try {
          await ringingCall(t, t.numberB);
          await receiver.waitFor(() => receivedAt(url).length === 1, 5000, 'one delivery');
          const [entry] = await eventually(
            async () => {
              const res = await numberB.webhookLogs(w.id);
              return res.body.logs.length === 1 ? res.body.logs : null;
            },
            3000,
            'the log entry',
          );
          assert.ok(answer.startsWith(entry.response), 'a prefix of what the receiver answered');
          assert.equal(entry.response, 'a'.repeat(4095), 'cut before the character that does not fit');
          assert.ok(Buffer.byteLength(entry.response) <= 4096);
        } finally {
          receiver.ok();
          await numberB.deleteWebhook(w.id);
        }
      });

      test('logs: 50 entries without a limit, newest first; limit narrows; 0 and 51 are 400', async () => {
        const url = hookUrl();
        const numberB = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
        const w = (await numberB.createWebhook({ url, events: ['call.permission_updated'] })).body;
        const specs = Array.from({ length: 51 }, () => ({ type: 'call.permission_updated' as const }));
        await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberB.id }, specs);
        await receiver.waitFor(() => receivedAt(url).length === 51, 10_000, '51 deliveries');
        // Deliveries without a sequence go out concurrently: the order they arrive in is not the log's. The store
        // says when all 51 attempts are logged, and which 50 are the newest.
        const logged = await eventually(
          async () => {
            const rows = await listAttemptsForWebhook(t.store.db, w.id, { limit: 100, eventType: null });
            return rows.length === 51 ? rows : null;
          },
          10_000,
          'every attempt logged',
        );
        const all = (await numberB.webhookLogs(w.id, '?limit=50')).body.logs;
        assert.deepEqual(
          all.map((l: { id: string }) => l.id),
          logged.slice(0, 50).map((a) => a.id),
          'the newest 50',
        );
        const byDefault = await numberB.webhookLogs(w.id);
        assert.equal(byDefault.status, 200);
        assert.equal(byDefault.body.logs.length, 50, "Pilot's default");
        assert.deepEqual(byDefault.body.logs, all);
        const times = all.map((l: { createdAt: string }) => l.createdAt);
        assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
        assert.equal((await numberB.webhookLogs(w.id, '?limit=3')).body.logs.length, 3);
        for (const bad of ['0', '51', 'x']) {
          const res = await numberB.webhookLogs(w.id, `?limit=${bad}`);
          assert.equal(res.status, 400, `limit=${bad}`);
          assert.equal(res.body.code, 'VALIDATION_ERROR');
        }
        await numberB.deleteWebhook(w.id);
      });

      test('PATCH pauses, get reads, logs show payload and response (50 by default), DELETE removes', async () => {
        const url = hookUrl();
        const w = (await numberA.createWebhook({ url, name: 'CRM', events: ['call.ringing'] })).body;
        await ringingCall(t);
        await receiver.waitFor(() => receivedAt(url).length === 1, 5000, 'one delivery');
        const logs = await eventually(
          async () => {
            const res = await numberA.webhookLogs(w.id);
            return res.body.logs.length === 1 ? res.body.logs : null;
          },
          3000,
          'the log entry',
        );
        const [entry] = logs;
        assert.equal(entry.event, 'call.ringing');
        assert.equal(entry.status, 'SUCCESS');
        assert.equal(entry.statusCode, 200);
        assert.deepEqual(entry.payload, receivedAt(url)[0]?.body);
        assert.equal(entry.response, 'ok');
        assert.equal(typeof entry.durationMs, 'number');
        assert.equal((await numberA.webhookLogs(w.id, '?limit=51')).status, 400, 'at most 50');

        const read = await numberA.getWebhook(w.id);
        assert.equal(read.body.lastTriggered, entry.createdAt);
        const paused = await numberA.updateWebhook(w.id, { active: false, name: 'CRM 2' });
        assert.equal(paused.body.active, false);
        assert.equal(paused.body.name, 'CRM 2');
        await ringingCall(t);
        await sleep(150);
        assert.equal(receivedAt(url).length, 1, 'a paused webhook gets nothing');
        const deleted = await numberA.deleteWebhook(w.id);
        assert.equal(deleted.status, 200, 'Pilot answers a DELETE with JSON: a client may parse it');
        assert.deepEqual(deleted.body, { success: true, id: w.id });
        assert.equal((await numberA.getWebhook(w.id)).body.code, 'WEBHOOK_NOT_FOUND');
      });
    });

    describe('API keys', () => {
      test('GET /v1/api-keys is one item per number, masked, never revealable', async () => {
        const res = await tenant.listApiKeys();
        assert.equal(res.status, 200);
        assert.ok(Array.isArray(res.body));
        const a = res.body.find((k: { numberId: string }) => k.numberId === t.numberA.id);
        assert.deepEqual(
          {
            number: a.number,
            displayName: a.displayName,
            keyId: a.keyId,
            key: a.key,
            revealable: a.revealable,
            keyLast4: a.keyLast4,
          },
          {
            number: t.numberA.displayPhoneNumber,
            displayName: 'Number 0',
            keyId: `key_…${t.numberA.key.id.slice(-4)}`,
            key: null,
            revealable: false,
            keyLast4: t.numberA.key.key.slice(-4),
          },
        );
        assert.ok(!JSON.stringify(res.body).includes(t.numberA.key.key));
      });

      test("POST /v1/api-keys creates a keyless number's key once, then 409 API_KEY_EXISTS", async () => {
        const now = new Date().toISOString();
        const id = newNumberId();
        await insertNumber(t.store.db, {
          id,
          tenantId: t.tenantId,
          name: 'Keyless',
          phoneNumber: '+5511955550000',
          provider: 'EVO_GO',
          metaPhoneNumberId: null,
          publicConfig: { baseUrl: 'http://127.0.0.1:9', instanceId: 'i', instanceName: null, publicWsBaseUrl: null },
          secretConfig: 'sealed',
          createdAt: now,
          updatedAt: now,
        });
        const listed = (await tenant.listApiKeys()).body.find((k: { numberId: string }) => k.numberId === id);
        assert.equal(listed.keyId, null, 'no key yet');

        // Pilot names the number in the header and sends no body at all.
        const created = await tenant.forNumber(id).request('POST', '/v1/api-keys');
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.body.numberId, id);
        assert.match(created.body.keyId, /^key_/);
        assert.match(created.body.key, /^ps_/);
        const own = new PilotClient({ baseUrl: t.baseUrl, apiKey: created.body.key });
        assert.equal((await own.listNumbers()).body[0].id, id, 'the new key works');

        const again = await tenant.createApiKey(id);
        assert.equal(again.status, 409);
        assert.equal(again.body.code, 'API_KEY_EXISTS');
        assert.equal((await tenant.createApiKey()).body.code, 'NUMBER_REQUIRED');
        assert.equal((await tenant.createApiKey('num_unknown')).status, 404);
      });

      test('POST /v1/api-keys/regenerate {whatsappNumberId}: the new key works, the old one stops at once', async () => {
        const old = t.numberB.key;
        const res = await tenant.regenerateApiKey(t.numberB.id);
        assert.equal(res.status, 200);
        assert.equal(res.body.numberId, t.numberB.id);
        assert.match(res.body.key, /^ps_/);
        t.numberB.key = { id: res.body.keyId, key: res.body.key };
        assert.equal((await new PilotClient({ baseUrl: t.baseUrl, apiKey: old.key }).listCalls()).status, 401);
        assert.equal((await new PilotClient({ baseUrl: t.baseUrl, apiKey: res.body.key }).listCalls()).status, 200);
        // Pilot's other credential, x-api-key-id: the old id stops at once too, the new one works.
        const byId = async (id: string) =>
          (await fetch(`${t.baseUrl}/v1/calls`, { headers: { 'x-api-key-id': id } })).status;
        assert.equal(await byId(old.id), 401, 'the old key id');
        assert.equal(await byId(res.body.keyId), 200, 'the new key id');
        const byNumberKey = await numberA.regenerateApiKey(t.numberA.id);
        assert.equal(byNumberKey.status, 403, 'a number key cannot regenerate');
      });
    });

    describe('numbers', () => {
      test('GET /v1/numbers is a bare array; a number key sees only its own; state and isFullyConnected', async () => {
        const all = await tenant.listNumbers();
        assert.equal(all.status, 200);
        assert.ok(Array.isArray(all.body));
        assert.ok(all.body.length >= 2);
        const own = await numberA.listNumbers();
        assert.deepEqual(
          own.body.map((n: { id: string }) => n.id),
          [t.numberA.id],
        );
        assert.equal(own.body[0].state, 'OPEN');
        assert.equal(own.body[0].isFullyConnected, true);
        // Pilot's number object names the phone `number`, digits only (callgate's phoneNumber stays, E.164).
        assert.equal(own.body[0].number, own.body[0].phoneNumber.replace(/^\+/, ''));
        assert.match(own.body[0].number, /^[1-9][0-9]{6,14}$/);
        assert.equal((await tenant.getNumber(t.numberA.id)).body.number, own.body[0].number);
      });

      test('a META number whose token Meta refuses turns CLOSED (not fully connected)', async () => {
        const meta = { phoneNumberId: '110200345567899', accessToken: 'to-be-revoked', appSecret: 's' };
        t.fake.addNumber({ ...meta, displayPhoneNumber: '551140049999', wabaId: '1' });
        const created = await tenant.request('POST', '/v1/numbers', {
          name: 'Revoked',
          phoneNumber: '+551140049999',
          provider: 'META',
          meta: { ...meta, verifyToken: 'v' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        t.fake.setAccessToken(meta.phoneNumberId, 'the-new-token');
        const revoked = new PilotClient({ baseUrl: t.baseUrl, apiKey: created.body.apiKey.key });
        assert.notEqual((await revoked.getCallSettings()).status, 200);
        const closed = await eventually(
          async () => {
            const [n] = (await revoked.listNumbers()).body;
            return n.state === 'CLOSED' ? n : null;
          },
          3000,
          'the number to turn CLOSED',
        );
        assert.equal(closed.isFullyConnected, false);
      });

      test('POST /v1/numbers, a body of two shapes: unset fields written as null are read as left out', async () => {
        // A Jackson-style client of callgate's own shape (Pilot's shape has other fields: the body is a union).
        t.fake.addNumber({
          phoneNumberId: '110200345567855',
          displayPhoneNumber: '551140047777',
          wabaId: '1',
          accessToken: 't',
          appSecret: 's',
        });
        const created = await tenant.request('POST', '/v1/numbers', {
          name: 'Nulls',
          phoneNumber: '+551140047777',
          provider: 'META',
          meta: { phoneNumberId: '110200345567855', accessToken: 't', appSecret: 's', verifyToken: 'v' },
          evolution: null,
          sandbox: null,
          recordCalls: null,
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal((await tenant.deleteNumber(created.body.number.id)).status, 200);
        const required = await tenant.request('POST', '/v1/numbers', { name: null, number: '+551140047776' });
        assert.equal(required.status, 400, 'a field one of the shapes requires is still required');
      });

      test('GET and DELETE /v1/numbers/{id}: the number, then gone with its key', async () => {
        t.fake.addNumber({
          phoneNumberId: '110200345567877',
          displayPhoneNumber: '551140048888',
          wabaId: '1',
          accessToken: 't',
          appSecret: 's',
        });
        const created = await tenant.request('POST', '/v1/numbers', {
          name: 'Temp',
          phoneNumber: '+551140048888',
          provider: 'META',
          meta: { phoneNumberId: '110200345567877', accessToken: 't', appSecret: 's', verifyToken: 'v' },
        });
        assert.equal(created.status, 201);
        const id = created.body.number.id;
        const got = await tenant.getNumber(id);
        assert.equal(got.body.id, id);
        assert.equal(got.body.state, 'OPEN');
        const deleted = await tenant.deleteNumber(id);
        assert.equal(deleted.status, 200, 'Pilot answers a DELETE with JSON: a client may parse it');
        assert.deepEqual(deleted.body, { success: true, id });
        assert.equal((await tenant.getNumber(id)).body.code, 'NUMBER_NOT_FOUND');
        const stale = new PilotClient({ baseUrl: t.baseUrl, apiKey: created.body.apiKey.key });
        assert.equal((await stale.listCalls()).status, 401);
      });

      test('regenerate: the header and the body naming different numbers is 400 NUMBER_MISMATCH', async () => {
        const res = await tenant.forNumber(t.numberA.id).regenerateApiKey(t.numberB.id);
        assert.equal(res.status, 400);
        assert.equal(res.body.code, 'NUMBER_MISMATCH');
      });

      test("the path alias too: a header naming another number is 400 NUMBER_MISMATCH, the path's key kept", async () => {
        const res = await tenant.forNumber(t.numberA.id).request('POST', `/v1/api-keys/${t.numberB.id}/regenerate`);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.code, 'NUMBER_MISMATCH');
        const numberB = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
        assert.equal((await numberB.listCalls()).status, 200, "B's key still works");
      });

      test('Pilot routes callgate does not offer answer 404 NOT_IMPLEMENTED_IN_CALLGATE with a sentence', async () => {
        for (const [method, path] of [
          ['POST', '/v1/numbers/meta'],
          ['GET', '/v1/numbers/check'],
          ['POST', '/v1/remote-pairing'],
          ['GET', '/v1/remote-pairing/abc/status'],
          ['POST', '/v1/numbers/remote-pairing'],
          ['GET', '/v1/numbers/remote-pairing/abc'],
          ['POST', '/v1/meta-embedded/tok_abc/complete'],
        ] as const) {
          const res = await tenant.request(method, path, method === 'POST' ? {} : undefined);
          assert.equal(res.status, 404, `${method} ${path}`);
          assert.equal(res.body.code, 'NOT_IMPLEMENTED_IN_CALLGATE');
          assert.match(res.body.error, /callgate does not offer/);
        }
      });
    });
  });
}
