// Web numbers (EVO_GO): the same Calls API on Evolution Go, against the fake, on every store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type IssuedKey, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, nextPeer, outbox } from '../../../../test/helpers/calls.ts';
import {
  addWebNumber,
  answeredWebCall,
  ringingWebCall,
  type WebNumber,
  webCall,
  webCallUntil,
} from '../../../../test/helpers/evolution.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import type { Call, CallStatus } from '../../../model/call.ts';
import { EVOLUTION_NOT_SUPPORTED_MESSAGE } from '../../../providers/evolution/client.ts';
import { getNumberById } from '../../../store/numbers.ts';

/** A stock CallOffer webhook body from +5511912345678, as an Evolution server posts it. */
function offerEnvelope(instanceId: string, instanceToken: string, callId: string): string {
  return JSON.stringify({
    event: 'CallOffer',
    instanceId,
    instanceName: 'x',
    instanceToken,
    data: {
      CallID: callId,
      CallCreator: '5511912345678@s.whatsapp.net',
      From: '5511912345678@s.whatsapp.net',
      GroupJID: '',
      Timestamp: new Date().toISOString(),
    },
  });
}

/** A file on a public address (a literal, so no DNS is needed where the tests run). */
const PUBLIC_MEDIA_URL = 'https://93.184.215.14/greet.mp3';

for (const kind of storeKinds()) {
  describe(`web numbers on Evolution Go [${kind}]`, () => {
    let t: TestApp;
    let web: WebNumber;
    let stock: WebNumber;
    before(async () => {
      // The slow hang-up injected below (300 ms) must come inside the provider's deadline (400 ms in tests).
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '2000' } });
      web = await addWebNumber(t, 'on');
      stock = await addWebNumber(t, 'off');
    });
    after(async () => {
      await web.fake.close();
      await stock.fake.close();
      await t.close();
    });

    /** A call to `web` answered on the business's phone (no API accept). */
    const answeredOnPhone = async () => {
      const call = await ringingWebCall(t, web);
      await web.fake.phoneAnswers(call.externalCallId);
      await web.fake.flush();
      return webCallUntil(t, web, call.id, 'ACCEPTED');
    };
    const post = (url: string, key: IssuedKey, payload?: object) =>
      t.app.inject({ method: 'POST', url, headers: { 'x-api-key': key.key }, ...(payload ? { payload } : {}) });
    const types = async (call: Call) => (await outbox(t, call)).map((e) => e.type);

    async function webCallIn(status: CallStatus): Promise<Call> {
      switch (status) {
        case 'RINGING':
          return ringingWebCall(t, web);
        case 'ACCEPTED':
          return answeredWebCall(t, web);
        case 'COMPLETED': {
          const c = await answeredWebCall(t, web);
          await web.fake.peerHangsUp(c.externalCallId);
          await web.fake.flush();
          return webCallUntil(t, web, c.id, 'COMPLETED');
        }
        case 'MISSED': {
          const c = await ringingWebCall(t, web);
          await web.fake.peerHangsUp(c.externalCallId);
          await web.fake.flush();
          return webCallUntil(t, web, c.id, 'MISSED');
        }
        case 'REJECTED': {
          const c = await ringingWebCall(t, web);
          assert.equal((await post(`/v1/calls/${c.id}/reject`, web.key)).statusCode, 200);
          return webCallUntil(t, web, c.id, 'REJECTED');
        }
        default:
          throw new Error(`no path to ${status} here`);
      }
    }

    describe('terminate table (EVO_GO expectations)', () => {
      for (const state of ['RINGING', 'ACCEPTED', 'COMPLETED', 'MISSED', 'REJECTED'] as const) {
        for (const idForm of ['call_ id', 'CallID'] as const) {
          for (const key of ['number key', 'tenant key', "another number's key", 'missing key'] as const) {
            test(`${state} call, ${idForm}, ${key}`, async () => {
              const call = await webCallIn(state);
              const before = web.fake.requests.length;
              const eventsBefore = await outbox(t, call);
              const headers =
                key === 'number key'
                  ? { 'x-api-key': web.key.key }
                  : key === 'tenant key'
                    ? { 'x-api-key': t.tenantKey.key }
                    : key === "another number's key"
                      ? { 'x-api-key': t.numberA.key.key }
                      : {};
              const id = idForm === 'CallID' ? call.externalCallId : call.id;
              const res = await t.app.inject({
                method: 'POST',
                url: `/v1/calls/${encodeURIComponent(id)}/terminate`,
                headers,
              });
              const after = (await webCall(t, web, call.id))!;
              if (key !== 'number key') {
                assert.equal(
                  res.statusCode,
                  { 'tenant key': 403, "another number's key": 404, 'missing key': 401 }[key],
                  res.body,
                );
                assert.equal(web.fake.requests.length, before, 'nothing sent to Evolution');
                assert.equal(after.status, call.status);
                return;
              }
              assert.equal(res.statusCode, 200, res.body);
              if (state === 'RINGING' || state === 'ACCEPTED') {
                assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
                const path = state === 'RINGING' ? '/call/reject' : '/call/hangup';
                assert.equal(web.fake.countRequests({ path, callId: call.externalCallId }), 1, `one ${path}`);
                assert.equal(after.status, 'COMPLETED');
                assert.equal(after.endedBy, 'BUSINESS');
                await web.fake.flush();
                assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
              } else {
                assert.deepEqual(res.json(), { success: true, id: call.id, status: state, alreadyEnded: true });
                assert.equal(web.fake.requests.length, before);
                assert.equal((await outbox(t, call)).length, eventsBefore.length);
              }
              assert.deepEqual(web.fake.violations, []);
            });
          }
        }
      }
    });

    test("the reject carries the offer's CallCreator verbatim", async () => {
      const call = await ringingWebCall(t, web);
      await post(`/v1/calls/${call.id}/terminate`, web.key);
      const sent = web.fake.requests.find(
        (r) => r.path === '/call/reject' && (r.body as { callId?: string })?.callId === call.externalCallId,
      );
      assert.equal((sent?.body as { callCreator?: string } | undefined)?.callCreator, call.providerData?.callCreator);
      assert.match(String(call.providerData?.callCreator), /@/);
    });

    test('stock server (no extension): a ringing call is still ended, via reject', async () => {
      const call = await ringingWebCall(t, stock);
      const res = await post(`/v1/calls/${call.id}/terminate`, stock.key);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(stock.fake.countRequests({ path: '/call/reject', callId: call.externalCallId }), 1);
    });

    test('stock server: an answered call cannot be hung up → 400 FEATURE_NOT_SUPPORTED, call unchanged, asked once', async () => {
      const call = await answeredWebCall(t, stock, false);
      const before = stock.fake.countRequests({ path: '/call/hangup' });
      const res = await post(`/v1/calls/${call.id}/terminate`, stock.key);
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual(
        { error: res.json().error, code: res.json().code },
        { error: EVOLUTION_NOT_SUPPORTED_MESSAGE, code: 'FEATURE_NOT_SUPPORTED' },
      );
      // The probe at creation rules out no action (add-ons ship route subsets): /call/hangup is asked once, its
      // 404 remembered, and the next try sends nothing.
      assert.equal(stock.fake.countRequests({ path: '/call/hangup' }), before + 1);
      assert.equal((await webCall(t, stock, call.id))?.status, 'ACCEPTED');
      await eventually(
        async () => (await getNumberById(t.store.db, stock.id))?.publicConfig.missingRoutes,
        3000,
        'the missing route to be stored',
      );
      assert.equal((await post(`/v1/calls/${call.id}/terminate`, stock.key)).statusCode, 400);
      assert.equal(stock.fake.countRequests({ path: '/call/hangup' }), before + 1, 'no provider request');
    });

    test('inbound offer → accept → terminate gives the same events, in the same order, as on META', async () => {
      const webEnd = await answeredWebCall(t, web);
      await post(`/v1/calls/${webEnd.id}/terminate`, web.key);
      await web.fake.flush();
      const metaCall = await callIn(t, 'ACCEPTED');
      await post(`/v1/calls/${metaCall.id}/terminate`, t.numberA.key);
      assert.deepEqual(await types(webEnd), ['call.ringing', 'call.connected', 'call.ended']);
      assert.deepEqual(await types(webEnd), await types(metaCall));
    });

    test('outbound start → peer accepts → hang-up: 201 RINGING, then the same events as META', async () => {
      const res = await post('/v1/calls', web.key, { to: `+${nextPeer()}` });
      assert.equal(res.statusCode, 201, res.body);
      const { id, externalCallId, status } = res.json();
      assert.equal(status, 'RINGING');
      await web.fake.peerAccepts(externalCallId);
      await web.fake.flush();
      await webCallUntil(t, web, id, 'ACCEPTED');
      assert.equal((await post(`/v1/calls/${id}/terminate`, web.key)).statusCode, 200);
      await web.fake.flush();
      const call = await webCallUntil(t, web, id, 'COMPLETED');
      assert.equal(typeof call.durationSeconds, 'number');
      assert.deepEqual(await types(call), ['call.ringing', 'call.connected', 'call.ended']);
      assert.equal(web.fake.countRequests({ path: '/call/hangup', callId: externalCallId }), 1);
    });

    test('outbound: the peer declines while our hang-up is in flight → COMPLETED by BUSINESS (calls-api §4.6)', async () => {
      const res = await post('/v1/calls', web.key, { to: `+${nextPeer()}` });
      assert.equal(res.statusCode, 201, res.body);
      const { id, externalCallId } = res.json();
      web.fake.inject({ path: '/call/hangup', callId: externalCallId, latencyMs: 300 });
      const terminating = post(`/v1/calls/${id}/terminate`, web.key);
      await eventually(
        async () => web.fake.countRequests({ path: '/call/hangup', callId: externalCallId }) === 1 || null,
        3000,
        'the hang-up to reach Evolution',
      );
      await web.fake.peerDeclines(externalCallId, { callReject: true });
      const ended = await terminating;
      assert.equal(ended.statusCode, 200, ended.body);
      assert.equal(ended.json().status, 'COMPLETED');
      await web.fake.flush();
      const call = (await webCall(t, web, id))!;
      assert.equal(call.status, 'COMPLETED');
      assert.equal(call.endedBy, 'BUSINESS');
      assert.deepEqual(await types(call), ['call.ringing', 'call.ended']);
    });

    test('outbound: a decline that arrives after the call was answered ends it COMPLETED, never REJECTED', async () => {
      const res = await post('/v1/calls', web.key, { to: `+${nextPeer()}` });
      const { id, externalCallId } = res.json();
      await web.fake.peerAccepts(externalCallId);
      await web.fake.flush();
      await webCallUntil(t, web, id, 'ACCEPTED');
      const peer = `${(await webCall(t, web, id))!.peerNumber}@s.whatsapp.net`;
      await web.fake.emitRaw(web.instanceId, 'CallEnded', {
        callId: externalCallId,
        peer,
        direction: 'outgoing',
        video: false,
        reason: 'rejected',
        durationSeconds: 9,
      });
      await web.fake.flush();
      const call = await webCallUntil(t, web, id, 'COMPLETED');
      assert.equal(typeof call.durationSeconds, 'number');
      assert.equal(call.endReason, 'rejected');
      assert.deepEqual(await types(call), ['call.ringing', 'call.connected', 'call.ended']);
    });

    test('a dial Evolution refuses with 429: Retry-After is its own, else the 10 s its 6 dials a minute imply', async () => {
      for (const [headers, expected] of [
        [{}, '10'],
        [{ 'Retry-After': '42' }, '42'],
      ] as const) {
        web.fake.inject({ path: '/call/dial', status: 429, error: 'dial rate limit exceeded', headers });
        const res = await post('/v1/calls', web.key, { to: `+${nextPeer()}` });
        assert.equal(res.statusCode, 429, res.body);
        assert.equal(res.json().code, 'RATE_LIMITED');
        assert.equal(res.headers['retry-after'], expected);
        assert.equal(res.json().details.retryAfterSeconds, 'Retry-After' in headers ? 42 : undefined);
      }
    });

    test('a `to` the API takes but Evolution cannot dial (7 digits) → 400 VALIDATION_ERROR, nothing sent, no call', async () => {
      const before = web.fake.countRequests({ path: '/call/dial' });
      const res = await post('/v1/calls', web.key, { to: '+1234567' });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'VALIDATION_ERROR');
      assert.equal(web.fake.countRequests({ path: '/call/dial' }), before);
      const listed = await t.app.inject({ url: '/v1/calls', headers: { 'x-api-key': web.key.key } });
      assert.equal(
        listed.json().calls.some((c: Call) => c.peerNumber === '1234567'),
        false,
      );
    });

    test('duplicated Evolution webhooks change nothing: one call, one call.ringing, one call.ended', async () => {
      const callId = await web.fake.incomingCall({ instanceId: web.instanceId, from: nextPeer() }, { duplicate: 2 });
      await web.fake.flush();
      const call = await webCallUntil(t, web, callId, 'RINGING');
      await web.fake.peerHangsUp(callId, { duplicate: 2 });
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'MISSED');
      assert.deepEqual(await types(ended), ['call.ringing', 'call.missed', 'call.ended']);
    });

    test('an end that arrives before its offer: the call is created ended and the late offer never rings', async () => {
      const callId = await web.fake.incomingCall({ instanceId: web.instanceId, from: nextPeer() }, { hold: true });
      await web.fake.peerHangsUp(callId);
      await web.fake.flush();
      await web.fake.releaseHeld();
      await web.fake.flush();
      const call = await webCallUntil(t, web, callId, 'MISSED');
      assert.deepEqual(await types(call), ['call.missed', 'call.ended']);
    });

    test('extension events of a call to us whose offer never came: CallReady answers it, CallEnded ends it', async () => {
      const from = nextPeer();
      const info = (callId: string, extra: Record<string, unknown> = {}) => ({
        callId,
        peer: `${from}@s.whatsapp.net`,
        direction: 'incoming',
        video: false,
        ...extra,
      });
      const ready = 'E0000000000000000000000000000A01';
      await web.fake.emitRaw(web.instanceId, 'CallReady', info(ready));
      await web.fake.flush();
      const answered = await webCallUntil(t, web, ready, 'ACCEPTED');
      assert.equal(answered.peerNumber, from);
      assert.equal(answered.direction, 'INBOUND');
      // The late offer changes nothing.
      await web.fake.emitRaw(web.instanceId, 'CallOffer', {
        CallID: ready,
        CallCreator: `${from}@s.whatsapp.net`,
        CallCreatorAlt: '',
        From: `${from}@s.whatsapp.net`,
        GroupJID: '',
        Timestamp: new Date().toISOString(),
      });
      await web.fake.flush();
      assert.equal((await webCall(t, web, ready))?.status, 'ACCEPTED');
      assert.deepEqual(await types(answered), ['call.ringing', 'call.connected']);

      const lost = 'E0000000000000000000000000000A02';
      await web.fake.emitRaw(web.instanceId, 'CallEnded', info(lost, { reason: 'rejected', durationSeconds: 3 }));
      await web.fake.flush();
      const declined = await webCallUntil(t, web, lost, 'REJECTED');
      assert.equal(declined.peerNumber, from);
    });

    test('SDP fields are null on EVO_GO', async () => {
      const call = await ringingWebCall(t, web);
      const res = await t.app.inject({
        url: `/v1/calls/${call.id}?includeSdp=1`,
        headers: { 'x-api-key': web.key.key },
      });
      assert.equal(res.json().sdpOffer, null);
      assert.equal(res.json().sdpAnswer, null);
    });

    test("the server refusing an answer for the call's phase is a 409 with details.status, like any conflict", async () => {
      const call = await ringingWebCall(t, web);
      // Evolution §2.1: a 409 other than "calls are not active" is a wrong phase (answered on the phone, say).
      web.fake.inject({ path: '/call/answer', callId: call.externalCallId, status: 409, error: 'call is not ringing' });
      const res = await post(`/v1/calls/${call.id}/accept`, web.key);
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.equal(res.json().details.status, 'RINGING', 'calls-api §3: a 409 CALL_STATE_CONFLICT names the status');
    });

    test('an SDP a client sends anyway (start, accept) is taken and not kept: SDP fields stay null', async () => {
      const started = await post('/v1/calls', web.key, {
        to: `+${nextPeer()}`,
        sdp: CANNED_OFFER_SDP,
        sdpType: 'offer',
      });
      assert.equal(started.statusCode, 201, started.body);
      const ringing = await ringingWebCall(t, web);
      const accepted = await post(`/v1/calls/${ringing.id}/accept`, web.key, { sdp: CANNED_ANSWER_SDP });
      assert.equal(accepted.statusCode, 200, accepted.body);
      for (const id of [started.json().id, ringing.id]) {
        const call = (
          await t.app.inject({ url: `/v1/calls/${id}?includeSdp=1`, headers: { 'x-api-key': web.key.key } })
        ).json();
        assert.equal(call.sdpOffer, null);
        assert.equal(call.sdpAnswer, null);
      }
    });

    test('forged Evolution webhooks (wrong token, unknown instance, unknown number) → 401, nothing stored', async () => {
      const callId = 'F0RGED0000000000000000000000000A';
      const envelope = (instanceId: string, instanceToken: string) => offerEnvelope(instanceId, instanceToken, callId);
      for (const [url, body] of [
        [`/providers/evolution/webhook/${web.id}`, envelope(web.instanceId, 'wrong-token')],
        [`/providers/evolution/webhook/${web.id}`, envelope('00000000-0000-0000-0000-000000000000', web.token)],
        [`/providers/evolution/webhook/${t.numberA.id}`, envelope(web.instanceId, web.token)],
        ['/providers/evolution/webhook/num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P', envelope(web.instanceId, web.token)],
        // The number is checked before the body is parsed (spec §3.1): an unknown one is a 401 whatever it sends.
        ['/providers/evolution/webhook/num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P', '{bad'],
        // However long or odd the id, it names no number of ours: unknown, so 401 (never a 400 that says more).
        [`/providers/evolution/webhook/${web.id}${'X'.repeat(60)}`, envelope(web.instanceId, web.token)],
      ] as const) {
        const res = await t.app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
        assert.equal(res.statusCode, 401, `${url}: ${res.body}`);
        assert.equal(await webCall(t, web, callId), null);
      }
      const broken = await t.app.inject({
        method: 'POST',
        url: `/providers/evolution/webhook/${web.id}`,
        headers: { 'content-type': 'application/json' },
        payload: '{bad',
      });
      assert.equal(broken.statusCode, 400, 'a known number with a body that is not JSON');
    });

    test('a number configured with a webhookSecret also needs X-Webhook-Secret (a proxy adds it); never instead of the token', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: {
          name: 'Behind a proxy',
          phoneNumber: '+5511977001122',
          provider: 'EVO_GO',
          evolution: {
            baseUrl: 'http://127.0.0.1:9',
            instanceId: 'proxied-instance',
            instanceToken: 'proxied-token',
            webhookSecret: 'proxy-added-secret',
          },
        },
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.body.includes('proxy-added-secret'), false, 'the secret is never shown');
      const numberId = created.json().number.id;
      const offer = (callId: string, instanceToken: string) => offerEnvelope('proxied-instance', instanceToken, callId);
      const send = (body: string, secret?: string) =>
        t.app.inject({
          method: 'POST',
          url: `/providers/evolution/webhook/${numberId}`,
          headers: { 'content-type': 'application/json', ...(secret ? { 'x-webhook-secret': secret } : {}) },
          payload: body,
        });
      assert.equal(
        (await send(offer('PR0XY0000000000000000000000000A1', 'proxied-token'))).statusCode,
        401,
        'no header',
      );
      assert.equal((await send(offer('PR0XY0000000000000000000000000A2', 'proxied-token'), 'wrong')).statusCode, 401);
      assert.equal(
        (await send(offer('PR0XY0000000000000000000000000A3', 'wrong-token'), 'proxy-added-secret')).statusCode,
        401,
        'the header never replaces the token',
      );
      const ok = await send(offer('PR0XY0000000000000000000000000A4', 'proxied-token'), 'proxy-added-secret');
      assert.equal(ok.statusCode, 200, ok.body);
      const stored = await t.app.inject({ url: '/v1/calls', headers: { 'x-api-key': created.json().apiKey.key } });
      assert.deepEqual(
        stored.json().calls.map((c: Call) => c.externalCallId),
        ['PR0XY0000000000000000000000000A4'],
      );
    });

    test('play and realtime-session work on web numbers and are 400 FEATURE_NOT_SUPPORTED on META', async () => {
      const call = await answeredWebCall(t, web);
      const play = await post(`/v1/calls/${call.id}/play`, web.key, { mediaUrl: PUBLIC_MEDIA_URL });
      assert.equal(play.statusCode, 200, play.body);
      const session = await post(`/v1/calls/${call.id}/realtime-session`, web.key, { mode: 'listen' });
      assert.equal(session.statusCode, 200, session.body);
      assert.match(session.json().wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/call\/stream\//);
      assert.ok(session.json().token);
      const metaCall = await callIn(t, 'ACCEPTED');
      const metaPlay = await post(`/v1/calls/${metaCall.id}/play`, t.numberA.key, {
        mediaUrl: 'https://example.com/greet.mp3',
      });
      assert.equal(metaPlay.statusCode, 400);
      assert.equal(metaPlay.json().code, 'FEATURE_NOT_SUPPORTED');
    });

    test('record:true on a web number is a 400 FEATURE_NOT_SUPPORTED (no server media to record), the call still rings', async () => {
      const call = await ringingWebCall(t, web);
      const res = await post(`/v1/calls/${call.id}/accept`, web.key, { record: true });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'FEATURE_NOT_SUPPORTED');
      assert.equal((await webCall(t, web, call.id))?.status, 'RINGING');
      assert.equal(web.fake.countRequests({ path: '/call/answer', callId: call.externalCallId }), 0);
    });

    test('declined on the business phone while ringing: REJECTED by BUSINESS with the reason, no call.missed', async () => {
      const call = await ringingWebCall(t, web);
      await web.fake.phoneRejects(call.externalCallId);
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'REJECTED');
      assert.equal(ended.endedBy, 'BUSINESS');
      assert.equal(ended.endReason, 'rejected_elsewhere');
      assert.deepEqual(await types(ended), ['call.ringing', 'call.ended']);
    });

    test('answered on another device (accepted_elsewhere alone): ACCEPTED, then the peer’s hang-up COMPLETES it', async () => {
      const call = await ringingWebCall(t, web);
      await web.fake.phoneAnswers(call.externalCallId, { acceptedElsewhere: true, callAccept: false });
      await web.fake.flush();
      const answered = await webCallUntil(t, web, call.id, 'ACCEPTED');
      assert.ok(answered.connectedAt, 'connectedAt set');
      await web.fake.peerHangsUp(call.externalCallId);
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'COMPLETED');
      assert.equal(ended.endedBy, 'PEER');
      assert.deepEqual(await types(ended), ['call.ringing', 'call.connected', 'call.ended']);
    });

    test('an end stamped in the future ends the call now, with a duration that makes sense', async () => {
      const call = await answeredOnPhone();
      await web.fake.emitRaw(web.instanceId, 'CallTerminate', {
        CallID: call.externalCallId,
        CallCreator: `${call.peerNumber}@s.whatsapp.net`,
        From: `${call.peerNumber}@s.whatsapp.net`,
        GroupJID: '',
        Reason: '',
        Timestamp: '9999-12-31T23:59:59Z',
      });
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'COMPLETED');
      assert.ok(Math.abs(Date.parse(ended.endedAt ?? '') - Date.now()) < 10_000, `endedAt ${ended.endedAt}`);
      assert.ok((ended.durationSeconds ?? -1) >= 0 && (ended.durationSeconds ?? 0) < 60, `${ended.durationSeconds}`);
    });

    test('ends keep the provider’s reason and say who ended it (hangup on the business phone: BUSINESS)', async () => {
      const call = await answeredOnPhone();
      await web.fake.emitRaw(web.instanceId, 'CallEnded', {
        callId: call.externalCallId,
        direction: 'incoming',
        reason: 'hangup',
      });
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'COMPLETED');
      assert.equal(ended.endedBy, 'BUSINESS');
      assert.equal(ended.endReason, 'hangup');
    });

    test('a NUL in an end reason is dropped (PostgreSQL refuses one): the call ends all the same', async () => {
      const ringing = await ringingWebCall(t, web);
      await web.fake.emitRaw(web.instanceId, 'CallTerminate', {
        CallID: ringing.externalCallId,
        CallCreator: '5511912345678@s.whatsapp.net',
        From: '5511912345678@s.whatsapp.net',
        GroupJID: '',
        Timestamp: new Date().toISOString(),
        Reason: 'time\u0000out',
      });
      await web.fake.flush();
      assert.equal((await webCallUntil(t, web, ringing.id, 'MISSED')).endReason, 'timeout');
      const answered = await answeredOnPhone();
      await web.fake.emitRaw(web.instanceId, 'CallEnded', {
        callId: answered.externalCallId,
        direction: 'incoming',
        reason: 'hang\u0000up',
      });
      await web.fake.flush();
      assert.equal((await webCallUntil(t, web, answered.id, 'COMPLETED')).endReason, 'hangup');
    });

    test('an answered call ending for a reason nobody documents is COMPLETED; a provider error makes it FAILED', async () => {
      for (const [reason, status] of [
        ['brand_new_reason', 'COMPLETED'],
        ['stream_closed', 'FAILED'],
      ] as const) {
        const call = await answeredOnPhone();
        await web.fake.emitRaw(web.instanceId, 'CallEnded', {
          callId: call.externalCallId,
          direction: 'incoming',
          reason,
        });
        await web.fake.flush();
        const ended = await webCallUntil(t, web, call.id, status);
        assert.equal(ended.endReason, reason);
        assert.equal(typeof ended.durationSeconds, 'number');
      }
    });

    test('an answered call whose instance stops ends FAILED, instance_stopped, by SYSTEM (calls-api §2 wins)', async () => {
      // The Evolution spec's table says COMPLETED for any end of an answered call; calls-api §2, which that spec
      // says wins, makes an answered call that ends with a provider failure FAILED, its duration kept.
      const own = await addWebNumber(t, 'on');
      try {
        const call = await answeredWebCall(t, own);
        await own.fake.disconnect(own.instanceId);
        await own.fake.flush();
        const ended = await webCallUntil(t, own, call.id, 'FAILED');
        assert.deepEqual(
          { endReason: ended.endReason, endedBy: ended.endedBy, answered: typeof ended.durationSeconds },
          { endReason: 'instance_stopped', endedBy: 'SYSTEM', answered: 'number' },
        );
        assert.deepEqual(await types(ended), ['call.ringing', 'call.connected', 'call.ended']);
      } finally {
        await own.fake.close();
      }
    });

    test('deleting a web number with live calls is refused (409 NUMBER_HAS_LIVE_CALLS); once they end it goes', async () => {
      const own = await addWebNumber(t, 'on');
      try {
        const ringing = await ringingWebCall(t, own);
        const answered = await answeredWebCall(t, own);
        const del = () =>
          t.app.inject({ method: 'DELETE', url: `/v1/numbers/${own.id}`, headers: { 'x-api-key': t.tenantKey.key } });
        const refused = await del();
        assert.equal(refused.statusCode, 409, refused.body);
        assert.equal(refused.json().code, 'NUMBER_HAS_LIVE_CALLS');
        assert.deepEqual(refused.json().details.liveCalls, [ringing.id, answered.id]);
        // The calls are still ours to end, each with one call.ended, the business having ended them.
        assert.equal((await post(`/v1/calls/${ringing.id}/terminate`, own.key)).statusCode, 200);
        assert.equal((await post(`/v1/calls/${answered.id}/terminate`, own.key)).statusCode, 200);
        for (const call of [ringing, answered]) {
          const ended = await webCall(t, own, call.id);
          assert.equal(ended?.endedBy, 'BUSINESS');
          assert.equal((await types(ended as Call)).filter((e) => e === 'call.ended').length, 1);
        }
        const deleted = await del();
        assert.equal(deleted.statusCode, 200, deleted.body);
      } finally {
        await own.fake.close();
      }
    });

    test('stale guard: an answered call with no end event for 4 h ends COMPLETED by SYSTEM only where it cannot be hung up', async () => {
      const clock = new ManualClock(Date.now());
      const t4 = await buildTestApp(kind, { clock });
      const stuck = await addWebNumber(t4, 'off');
      const able = await addWebNumber(t4, 'on');
      try {
        // A stock server: its probe at creation found no calls add-on; the call was answered on the phone, and
        // nobody has tried to hang it up through us.
        await eventually(
          async () => (await getNumberById(t4.store.db, stuck.id))?.publicConfig.missingRoutes,
          3000,
          'the probe to find no add-on',
        );
        const call = await answeredWebCall(t4, stuck, false);
        const other = await answeredWebCall(t4, able);
        clock.advance(3 * 3_600_000);
        await t4.sweeper.sweepOnce();
        assert.equal((await webCall(t4, stuck, call.id))?.status, 'ACCEPTED', 'not yet: 3 h');
        clock.advance(2 * 3_600_000);
        await t4.sweeper.sweepOnce();
        const ended = await webCall(t4, stuck, call.id);
        assert.equal(ended?.status, 'COMPLETED');
        assert.equal(ended?.endedBy, 'SYSTEM');
        assert.equal(ended?.endReason, 'no_end_event');
        assert.ok((ended?.durationSeconds ?? 0) >= 4 * 3600, 'duration up to the guard');
        assert.deepEqual(
          (await outbox(t4, ended as Call)).map((e) => e.type),
          ['call.ringing', 'call.connected', 'call.ended'],
        );
        assert.equal((await webCall(t4, able, other.id))?.status, 'ACCEPTED', 'a call that can be hung up is left');
      } finally {
        await stuck.fake.close();
        await able.fake.close();
        await t4.close();
      }
    });

    test('WhatsApp connects a call we declined (whatsmeow#1182): REJECTED stays, the timeline says reject_not_honoured', async () => {
      const call = await ringingWebCall(t, web);
      const rejected = await post(`/v1/calls/${call.id}/reject`, web.key);
      assert.equal(rejected.statusCode, 200, rejected.body);
      await web.fake.emitRaw(web.instanceId, 'CallAccept', {
        CallID: call.externalCallId,
        CallCreator: `${call.peerNumber}@s.whatsapp.net`,
        From: `${call.peerNumber}@s.whatsapp.net`,
        GroupJID: '',
        Timestamp: new Date().toISOString(),
      });
      await web.fake.flush();
      const timeline = await eventually(async () => {
        const res = await t.app.inject({ url: `/v1/calls/${call.id}/events`, headers: { 'x-api-key': web.key.key } });
        const events = res.json().events as { source: string; type: string }[];
        return events.some((e) => e.type === 'reject_not_honoured') && events;
      });
      assert.deepEqual(
        timeline.slice(-2).map((e) => `${e.source}:${e.type}`),
        ['provider:status.ACCEPTED', 'provider:reject_not_honoured'],
      );
      const after = await webCall(t, web, call.id);
      assert.equal(after?.status, 'REJECTED', 'terminal states are sticky');
      assert.deepEqual(await types(after as Call), ['call.ringing', 'call.ended']);
    });

    describe('a call whose offer never reached us (§4, the "(none)" rows)', () => {
      const stockEvent = async (event: string, callId: string, peer: string, extra: object = {}) => {
        await web.fake.emitRaw(web.instanceId, event, {
          CallID: callId,
          CallCreator: `${peer}@s.whatsapp.net`,
          From: `${peer}@s.whatsapp.net`,
          GroupJID: '',
          Timestamp: new Date().toISOString(),
          ...extra,
        });
        await web.fake.flush();
      };
      const byExternal = async (externalCallId: string) =>
        eventually(async () => {
          const res = await t.app.inject({
            url: `/v1/calls/${externalCallId}`,
            headers: { 'x-api-key': web.key.key },
          });
          return res.statusCode === 200 && (res.json() as Call);
        });

      test('an end with no offer records the call terminal at once; a late offer changes nothing', async () => {
        const peer = nextPeer();
        const missed = 'A0FFER10570000000000000000000001';
        await stockEvent('CallTerminate', missed, peer, { Reason: '' });
        const call = await byExternal(missed);
        assert.equal(call.status, 'MISSED');
        assert.equal(call.direction, 'INBOUND');
        assert.equal(call.peerNumber, peer);
        assert.deepEqual(await types(call), ['call.missed', 'call.ended']);
        await stockEvent('CallOffer', missed, peer);
        assert.equal((await byExternal(missed)).status, 'MISSED', 'the late offer is ignored');
        assert.deepEqual(await types(call), ['call.missed', 'call.ended']);

        const declined = 'A0FFER10570000000000000000000002';
        await stockEvent('CallTerminate', declined, nextPeer(), { Reason: 'rejected_elsewhere' });
        const rejected = await byExternal(declined);
        assert.equal(rejected.status, 'REJECTED');
        assert.equal(rejected.endedBy, 'BUSINESS');
        assert.deepEqual(await types(rejected), ['call.ended']);
      });

      test('an answer with no offer: the call rang and is ACCEPTED; a late offer changes nothing', async () => {
        const peer = nextPeer();
        const id = 'A0FFER10570000000000000000000003';
        await stockEvent('CallAccept', id, peer);
        const call = await byExternal(id);
        assert.equal(call.status, 'ACCEPTED');
        assert.equal(call.peerNumber, peer);
        await stockEvent('CallOffer', id, peer);
        assert.equal((await byExternal(id)).status, 'ACCEPTED');
        assert.deepEqual(await types(call), ['call.ringing', 'call.connected']);
      });

      test('an answer delivered late (a retry minutes after it happened) still records the call ACCEPTED, not MISSED', async () => {
        const id = 'A0FFER10570000000000000000000004';
        await stockEvent('CallAccept', id, nextPeer(), { Timestamp: new Date(Date.now() - 5 * 60_000).toISOString() });
        const call = await byExternal(id);
        assert.equal(call.status, 'ACCEPTED');
        assert.deepEqual(await types(call), ['call.ringing', 'call.connected']);
      });
    });

    test('play on a web number refuses a URL the Evolution server must not fetch: 400, nothing sent to it', async () => {
      const call = await answeredWebCall(t, web);
      const plays = () => web.fake.countRequests({ path: '/call/play' });
      const before = plays();
      for (const mediaUrl of [
        'http://93.184.215.14/greet.mp3', // https only
        'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
        'https://127.0.0.1:6379/',
        'https://10.1.2.3/a.wav',
        'https://[::ffff:127.0.0.1]/a.wav',
        'https://2130706433/a.wav',
        'https://localhost/x.wav',
        'https://user:pw@93.184.215.14/greet.mp3',
        'https://nowhere.invalid/a.wav', // a name that resolves nowhere (RFC 6761)
      ]) {
        const res = await post(`/v1/calls/${call.id}/play`, web.key, { mediaUrl });
        assert.equal(res.statusCode, 400, `${mediaUrl}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.match(res.json().details.reason, /^mediaUrl refused: /, mediaUrl);
      }
      assert.equal(plays(), before, 'the Evolution server was asked to fetch none of them');
      assert.equal((await post(`/v1/calls/${call.id}/play`, web.key, { mediaUrl: PUBLIC_MEDIA_URL })).statusCode, 200);
      assert.equal(plays(), before + 1);
    });

    test("META-only endpoints, play's clear and sandbox calls on a web number → 400 FEATURE_NOT_SUPPORTED with the spec's sentence and a reason", async () => {
      const call = await ringingWebCall(t, web);
      for (const [method, url, payload] of [
        ['POST', `/v1/calls/${call.id}/pre-accept`, { sdp: 'v=0\r\n' }],
        ['GET', '/v1/calls/settings', undefined],
        ['GET', '/v1/calls/permissions?to=%2B5511999999999', undefined],
        ['POST', '/v1/calls/permissions/request', { to: '+5511999999999' }],
      ] as const) {
        const res = await t.app.inject({
          method,
          url,
          headers: { 'x-api-key': web.key.key },
          ...(payload ? { payload } : {}),
        });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.equal(res.json().code, 'FEATURE_NOT_SUPPORTED');
        assert.equal(res.json().error, EVOLUTION_NOT_SUPPORTED_MESSAGE);
        // The sentence is about the calls extension, which this number has: the reason says what is missing.
        assert.match(res.json().details.reason, /META and SANDBOX numbers only/, url);
      }
      for (const [method, payload] of [
        ['POST', { clear: true }],
        ['DELETE', undefined],
      ] as const) {
        const res = await t.app.inject({
          method,
          url: `/v1/calls/${call.id}/play`,
          headers: { 'x-api-key': web.key.key },
          ...(payload ? { payload } : {}),
        });
        assert.equal(res.statusCode, 400, `${method}: ${res.body}`);
        assert.equal(res.json().code, 'FEATURE_NOT_SUPPORTED');
        assert.match(res.json().details.reason, /a web number has no command to stop or clear/);
      }
      const sandboxCall = await t.app.inject({
        method: 'POST',
        url: '/v1/sandbox/calls',
        headers: { 'x-api-key': web.key.key },
        payload: {},
      });
      assert.equal(sandboxCall.statusCode, 400, sandboxCall.body);
      assert.equal(sandboxCall.json().details.reason, 'simulated calls ring SANDBOX numbers only');
    });

    test('an instance that is not connected: accept → 409 WHATSAPP_INSTANCE_NOT_CONNECTED, terminate → 502 PROVIDER_UNAVAILABLE', async () => {
      const other = await addWebNumber(t, 'on');
      try {
        const ringing = await ringingWebCall(t, other);
        const answered = await answeredWebCall(t, other);
        // The WhatsApp session of the instance is down: the server answers with its stock texts.
        other.fake.inject({ path: '/call/answer', status: 500, body: { error: 'client disconnected' } });
        other.fake.inject({ path: '/call/hangup', status: 500, body: { error: 'client disconnected' }, times: 2 });
        const accept = await post(`/v1/calls/${ringing.id}/accept`, other.key);
        assert.equal(accept.statusCode, 409, accept.body);
        assert.equal(accept.json().code, 'WHATSAPP_INSTANCE_NOT_CONNECTED');
        const hangUp = await post(`/v1/calls/${answered.id}/terminate`, other.key);
        assert.equal(hangUp.statusCode, 502, hangUp.body);
        assert.equal(hangUp.json().code, 'PROVIDER_UNAVAILABLE');
      } finally {
        await other.fake.close();
      }
    });

    test('after everything above, the Evolution servers saw no protocol misuse (e.g. an answer without callCreator)', () => {
      assert.deepEqual(web.fake.violations, []);
      assert.deepEqual(stock.fake.violations, []);
    });
  });
}
