// A number's "record every call" default (docs/spec/media.md: "record: true on accept/start, or the number's
// default"): set with PATCH /v1/numbers/{id} or at creation, shown on the number, applied to server-media calls
// that do not say `record` themselves.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestWorker, verifyWith, workerConfig } from '../../../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver } from '../../../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { acceptedCall } from '../../../../test/helpers/calls.ts';
import {
  assertPitchesNear,
  connectUser,
  mediaServer,
  recordedPitches,
  startCall,
} from '../../../../test/helpers/server-media.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { wavFile } from '../../../../test/helpers/wav.ts';
import { tone } from '../../../media/audio/tone.ts';
import type { AudioEndpoint } from '../../../media/rtc/index.ts';

for (const kind of storeKinds()) {
  describe(`a number that records every call (${kind})`, () => {
    let t: TestApp;
    let media: Awaited<ReturnType<typeof mediaServer>>;
    const endpoints: AudioEndpoint[] = [];
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', MEDIA_WORKERS: '2' } });
      media = await mediaServer({ 'tone.wav': wavFile([tone(660, 10, 8000)], 8000) });
    });
    after(async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      media.server.close();
      await t.close();
    });
    const asTenant = (method: 'GET' | 'PATCH' | 'POST', url: string, payload?: unknown) =>
      t.app.inject({ method, url, headers: { 'x-api-key': t.tenantKey.key }, ...(payload ? { payload } : {}) });
    const api = (key: string, method: 'GET' | 'POST', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });

    /** A server-media call on the number, accepted with `body`, with 660 Hz played to the caller, then ended. */
    async function recordedCall(number = t.numberA, body: object = {}) {
      const uc = await startCall(t, endpoints, 440, number);
      const accept = await api(number.key.key, 'POST', `/v1/calls/${uc.call.id}/accept`, body);
      assert.equal(accept.statusCode, 200, accept.body);
      await connectUser(t, uc);
      const play = await api(number.key.key, 'POST', `/v1/calls/${uc.call.id}/play`, {
        mediaUrl: media.url('tone.wav'),
      });
      assert.equal(play.statusCode, 200, play.body);
      await sleep(2000);
      assert.equal((await api(number.key.key, 'POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
      await eventually(async () => t.app.media.size === 0, 5000, 'the media to end');
      return uc.call.id;
    }

    /** A new SANDBOX number that records every call, and a simulated 440 Hz call to it, answered with server media. */
    async function recordedSandboxCall(name: string) {
      const created = await asTenant('POST', '/v1/numbers', {
        name,
        provider: 'SANDBOX',
        recordCalls: true,
        sandbox: { answerAfterSeconds: 0 },
      });
      assert.equal(created.statusCode, 201, created.body);
      const key: string = created.json().apiKey.key;
      const started = await api(key, 'POST', '/v1/sandbox/calls', { audio: 'tone:440' });
      assert.equal(started.statusCode, 201, started.body);
      const callId: string = started.json().call.id;
      assert.equal((await api(key, 'POST', `/v1/calls/${callId}/accept`, {})).statusCode, 200);
      return { numberId: created.json().number.id as string, key, callId };
    }

    test('a new number does not record; PATCH recordCalls:true shows on the number, in the list and to its own key', async () => {
      assert.equal((await asTenant('GET', `/v1/numbers/${t.numberA.id}`)).json().recordCalls, false);
      const res = await asTenant('PATCH', `/v1/numbers/${t.numberA.id}`, { recordCalls: true });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().recordCalls, true);
      assert.equal(res.json().id, t.numberA.id);
      assert.equal((await asTenant('GET', `/v1/numbers/${t.numberA.id}`)).json().recordCalls, true);
      const listed = (await asTenant('GET', '/v1/numbers')).json() as { id: string; recordCalls: boolean }[];
      assert.deepEqual(
        listed.map((n) => [n.id, n.recordCalls]),
        [
          [t.numberA.id, true],
          [t.numberB.id, false],
        ],
      );
      assert.equal((await api(t.numberA.key.key, 'GET', '/v1/number')).json().recordCalls, true);
    });

    test('on that number a call accepted without `record` is recorded: the caller’s 440 Hz left, the played 660 Hz right', async () => {
      const id = await recordedCall();
      const recording = await eventually(async () => {
        const r = (await api(t.numberA.key.key, 'GET', `/v1/calls/${id}`)).json().recording;
        return r?.status === 'ready' && r;
      });
      assert.ok(recording.durationSeconds >= 2, JSON.stringify(recording));
      const file = await api(t.numberA.key.key, 'GET', `/v1/calls/${id}/recording`);
      assert.equal(file.statusCode, 200);
      assertPitchesNear(await recordedPitches(file.rawPayload), [440, 660]);
    });

    test('`record: false` on accept overrides the number’s default: no recording', async () => {
      const id = await recordedCall(t.numberA, { record: false });
      const call = (await api(t.numberA.key.key, 'GET', `/v1/calls/${id}`)).json();
      assert.equal(call.media, 'server');
      assert.equal(call.recording, undefined);
      const file = await api(t.numberA.key.key, 'GET', `/v1/calls/${id}/recording`);
      assert.equal(file.statusCode, 404);
      assert.equal(file.json().code, 'RECORDING_NOT_FOUND');
      assert.match(file.json().details.reason, /^this call was not recorded: .*--record.*"recordCalls": true$/);
    });

    test('a call placed without an sdp and not recorded: the 404 names POST /v1/calls, not accept', async () => {
      const created = await asTenant('POST', '/v1/numbers', { name: 'Placed', provider: 'SANDBOX' });
      assert.equal(created.statusCode, 201, created.body);
      const key: string = created.json().apiKey.key;
      const to = '+15550004141';
      assert.equal((await api(key, 'POST', '/v1/calls/permissions/request', { to })).statusCode, 200);
      await eventually(
        async () =>
          (await api(key, 'GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`)).json().permission.status !==
          'no_permission',
        5000,
        'the simulated user to grant the permission',
      );
      const placed = await api(key, 'POST', '/v1/calls', { to });
      assert.equal(placed.statusCode, 201, placed.body);
      const id: string = placed.json().id;
      assert.equal((await api(key, 'POST', `/v1/calls/${id}/terminate`)).statusCode, 200);
      await eventually(async () => t.app.media.size === 0, 5000, 'the media to end');
      const file = await api(key, 'GET', `/v1/calls/${id}/recording`);
      assert.equal(file.statusCode, 404);
      assert.equal(file.json().code, 'RECORDING_NOT_FOUND');
      assert.match(file.json().details.reason, /^this call was not recorded: .*POST \/v1\/calls.*"recordCalls": true$/);
      assert.doesNotMatch(file.json().details.reason, /accept/);
    });

    test('a call answered with its own sdp has nothing recorded, and the 404 says why', async () => {
      const call = await acceptedCall(t);
      const file = await api(t.numberA.key.key, 'GET', `/v1/calls/${call.id}/recording`);
      assert.equal(file.statusCode, 404);
      assert.equal(file.json().code, 'RECORDING_NOT_FOUND');
      assert.match(file.json().details.reason, /^this call's audio was not held by callgate, .*\(server media\)$/);
    });

    test('another number of the tenant is unaffected: its calls are not recorded', async () => {
      const id = await recordedCall(t.numberB);
      assert.equal((await api(t.numberB.key.key, 'GET', `/v1/calls/${id}`)).json().recording, undefined);
    });

    test('PATCH recordCalls:false stops recording the next calls', async () => {
      assert.equal((await asTenant('PATCH', `/v1/numbers/${t.numberA.id}`, { recordCalls: false })).statusCode, 200);
      const id = await recordedCall();
      assert.equal((await api(t.numberA.key.key, 'GET', `/v1/calls/${id}`)).json().recording, undefined);
    });

    test('a number can be created with recordCalls:true, and shows it', async () => {
      const res = await asTenant('POST', '/v1/numbers', {
        name: 'Recorded',
        provider: 'SANDBOX',
        recordCalls: true,
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().number.recordCalls, true);
      assert.equal((await asTenant('GET', `/v1/numbers/${res.json().number.id}`)).json().recordCalls, true);
    });

    test('a webhook for call.recording_ready gets one signed delivery, with the recording the call shows', async () => {
      const receiver = await startWebhookReceiver();
      const worker = startTestWorker(t.store.db, workerConfig());
      try {
        const created = await asTenant('POST', '/v1/numbers', {
          name: 'Hooked',
          provider: 'SANDBOX',
          recordCalls: true,
          sandbox: { answerAfterSeconds: 0 },
        });
        assert.equal(created.statusCode, 201, created.body);
        const key: string = created.json().apiKey.key;
        const hook = await api(key, 'POST', '/v1/webhooks', {
          url: receiver.url,
          events: ['call.recording_ready'],
        });
        assert.equal(hook.statusCode, 201, hook.body);
        const started = await api(key, 'POST', '/v1/sandbox/calls', { audio: 'tone:440' });
        assert.equal(started.statusCode, 201, started.body);
        const callId: string = started.json().call.id;
        assert.equal((await api(key, 'POST', `/v1/calls/${callId}/accept`, {})).statusCode, 200);
        await sleep(1000);
        assert.equal((await api(key, 'POST', `/v1/calls/${callId}/terminate`)).statusCode, 200);
        await receiver.waitFor((r) => r.length >= 1, 10_000, 'the call.recording_ready delivery');
        await sleep(500);
        assert.equal(receiver.requests.length, 1, 'only the subscribed event, once');
        const delivered = verifyWith(hook.json().secret, receiver.requests[0]!) as {
          event: string;
          callId: string;
          recording: { status: string; durationSeconds: number; sizeBytes: number };
        };
        assert.equal(delivered.event, 'call.recording_ready');
        assert.equal(delivered.callId, callId);
        assert.equal(delivered.recording.status, 'ready');
        assert.deepEqual(delivered.recording, (await api(key, 'GET', `/v1/calls/${callId}`)).json().recording);
      } finally {
        await worker.stop();
        await receiver.close();
      }
    });

    test('deleting a number removes its recordings’ files and its events with its calls', async () => {
      const { numberId, key, callId } = await recordedSandboxCall('Gone');
      await sleep(1000);
      assert.equal((await api(key, 'POST', `/v1/calls/${callId}/terminate`)).statusCode, 200);
      await eventually(
        async () => (await api(key, 'GET', `/v1/calls/${callId}`)).json().recording?.status === 'ready',
        8000,
        'the recording',
      );
      const [row] = await t.store.db.query<{ recording_path: string }>(
        'SELECT recording_path FROM call_media WHERE call_id = $1',
        [callId],
      );
      assert.ok(row && existsSync(row.recording_path), 'the file is there');
      const eventsOf = async () =>
        Number(
          (
            await t.store.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM events WHERE number_id = $1', [numberId])
          )[0]?.n,
        );
      assert.ok((await eventsOf()) >= 3, 'ringing, connected, ended, recording_ready');

      const deleted = await t.app.inject({
        method: 'DELETE',
        url: `/v1/numbers/${numberId}`,
        headers: { 'x-api-key': t.tenantKey.key },
      });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(existsSync(row.recording_path), false, 'the recording went with its number');
      assert.equal(await eventsOf(), 0, 'and so did its events');
      assert.equal((await api(key, 'GET', `/v1/calls/${callId}`)).statusCode, 401, 'its key is gone');
    });

    test('deleting a number during a recorded call is refused; once the call ends, the delete removes the file', async () => {
      const { numberId, callId, key } = await recordedSandboxCall('Gone live');
      const [row] = await t.store.db.query<{ recording_path: string }>(
        'SELECT recording_path FROM call_media WHERE call_id = $1',
        [callId],
      );
      assert.ok(row?.recording_path);
      await eventually(async () => existsSync(row.recording_path), 5000, 'the recording to start');
      const remove = () =>
        t.app.inject({ method: 'DELETE', url: `/v1/numbers/${numberId}`, headers: { 'x-api-key': t.tenantKey.key } });
      const refused = await remove();
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().code, 'NUMBER_HAS_LIVE_CALLS');
      assert.deepEqual(refused.json().details.liveCalls, [callId]);
      assert.ok(t.app.media.session(callId), 'the media goes on');
      assert.ok(existsSync(row.recording_path), 'and so does its recording');
      assert.equal((await api(key, 'POST', `/v1/calls/${callId}/terminate`)).statusCode, 200);
      await eventually(async () => t.app.media.session(callId) === undefined, 10_000, 'the media to end');
      const deleted = await remove();
      assert.equal(deleted.statusCode, 200, deleted.body);
      await eventually(async () => !existsSync(row.recording_path), 5000, 'the file to be removed');
    });

    test('bad values are a 400 VALIDATION_ERROR and change nothing; unknown numbers 404; a number key 403', async () => {
      const url = `/v1/numbers/${t.numberB.id}`;
      for (const payload of [
        { recordCalls: 'yes' },
        { recordCalls: 1 },
        { recordCalls: null },
        {},
        { recordCalls: true, name: 'renamed' },
        [true],
      ]) {
        const res = await asTenant('PATCH', url, payload);
        assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.equal(typeof res.json().requestId, 'string');
      }
      const created = await asTenant('POST', '/v1/numbers', { name: 'Bad', provider: 'SANDBOX', recordCalls: 'yes' });
      assert.equal(created.statusCode, 400, created.body);
      assert.equal(created.json().code, 'VALIDATION_ERROR');
      assert.equal((await asTenant('GET', url)).json().recordCalls, false);

      const unknown = await asTenant('PATCH', '/v1/numbers/num_00000000000000000000000000', { recordCalls: true });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().code, 'NUMBER_NOT_FOUND');
      const byNumberKey = await t.app.inject({
        method: 'PATCH',
        url,
        headers: { 'x-api-key': t.numberB.key.key },
        payload: { recordCalls: true },
      });
      assert.equal(byNumberKey.statusCode, 403);
      assert.equal(byNumberKey.json().code, 'NUMBER_SCOPE_NOT_ALLOWED');
      assert.equal((await asTenant('GET', url)).json().recordCalls, false);
    });
  });
}
