// Sandbox numbers end to end with real media: a werift peer plays the business's WebRTC endpoint, a simulated
// WhatsApp user plays the caller, ICE on 127.0.0.1 only. Store-backed: runs on SQLite and, with
// TEST_DATABASE_URL, on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { outbox } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { AudioEndpoint } from '../../../media/rtc/audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from '../../../media/rtc/peer-factory.ts';
import { toneSource } from '../../../media/rtc/sources.ts';
import type { Call } from '../../../model/call.ts';

const peers = createPeerFactory(LOOPBACK_ICE);

interface SandboxNumber {
  id: string;
  phoneNumber: string;
  key: string;
}

for (const kind of storeKinds()) {
  describe(`sandbox numbers (${kind})`, () => {
    let t: TestApp;
    let sandbox: SandboxNumber;
    const endpoints: AudioEndpoint[] = [];

    const api = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string, payload?: object) => {
      const res = await t.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
      return { status: res.statusCode, body: res.body ? res.json() : null };
    };
    /** Asks `to` for call permission; the simulated user grants it about a second later. */
    const permitted = async (to: string) => {
      assert.equal((await api('POST', '/v1/calls/permissions/request', sandbox.key, { to })).status, 200);
      await eventually(
        async () =>
          (await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`, sandbox.key)).body.permission
            .status === 'temporary',
        4000,
        'the permission to be granted',
      );
    };
    const getCall = async (id: string): Promise<Call> =>
      (await api('GET', `/v1/calls/${id}?includeSdp=1`, sandbox.key, undefined)).body;
    const heardBySimulatedUser = async (id: string) => (await api('GET', `/v1/sandbox/calls/${id}`, sandbox.key)).body;

    before(async () => {
      t = await buildTestApp(kind);
      const created = await api('POST', '/v1/numbers', t.tenantKey.key, {
        provider: 'SANDBOX',
        name: 'Try it',
        sandbox: { answerAfterSeconds: 0, audio: 'tone:660' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      sandbox = {
        id: created.body.number.id,
        phoneNumber: created.body.number.phoneNumber,
        key: created.body.apiKey.key,
      };
    });
    after(async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      await t.close();
    });

    test('a sandbox number gets a +99 number and says it is a sandbox everywhere it is shown', async () => {
      assert.match(sandbox.phoneNumber, /^\+99\d{10}$/);
      const shown = await api('GET', `/v1/numbers/${sandbox.id}`, t.tenantKey.key);
      assert.equal(shown.body.sandbox, true);
      assert.equal(shown.body.provider, 'SANDBOX');
      assert.deepEqual(shown.body.sandboxSettings, {
        answer: 'accept',
        answerAfterSeconds: 0,
        audio: 'tone:660',
        hangupAfterSeconds: null,
        permissionReply: 'accept',
      });
      const meta = await api('GET', `/v1/numbers/${t.numberA.id}`, t.tenantKey.key);
      assert.equal(meta.body.sandbox, false);
      assert.equal(meta.body.sandboxSettings, undefined);
    });

    test('a sandbox number whose audio setting could never play is refused when created, not on every call', async () => {
      const count = async () => (await api('GET', '/v1/numbers', t.tenantKey.key)).body.length;
      const before = await count();
      for (const audio of ['trumpet', 'tone:99999', 'http://127.0.0.1/x.wav', 'data:audio/wav;base64,AAAA']) {
        const res = await api('POST', '/v1/numbers', t.tenantKey.key, {
          provider: 'SANDBOX',
          name: 'Bad',
          sandbox: { audio },
        });
        assert.equal(res.status, 400, `${audio}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.details.field, 'sandbox.audio', JSON.stringify(res.body));
        assert.equal(res.body.code, 'VALIDATION_ERROR');
        assert.match(res.body.details.reason, /sandbox\.audio/);
      }
      assert.equal(await count(), before, 'no number was created');
      // A WAV URL is only checked for its form here; it is fetched when a call needs it.
      const ok = await api('POST', '/v1/numbers', t.tenantKey.key, {
        provider: 'SANDBOX',
        name: 'Remote WAV',
        sandbox: { audio: 'https://example.com/hello.wav' },
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal((await api('DELETE', `/v1/numbers/${ok.body.number.id}`, t.tenantKey.key)).status, 200);
    });

    test('a simulated call is answered with a werift SDP and audio flows both ways (440 Hz in, 880 Hz out)', async () => {
      const started = await api('POST', '/v1/sandbox/calls', sandbox.key, { from: '+15550001111', audio: 'tone:440' });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.sandbox, true);
      const ringing: Call = started.body.call;
      assert.equal(ringing.status, 'RINGING');
      assert.equal(ringing.direction, 'INBOUND');
      assert.equal((ringing as Call & { sandbox?: boolean }).sandbox, true);
      assert.equal(ringing.peerNumber, '15550001111');

      const offer = (await getCall(ringing.id)).sdpOffer;
      assert.ok(offer);
      assert.match(offer, /a=rtpmap:\d+ opus\/48000\/2/);

      const business = new AudioEndpoint(peers, { source: toneSource(880) });
      endpoints.push(business);
      const answer = await business.acceptOffer(offer);
      const preAccepted = await api('POST', `/v1/calls/${ringing.id}/pre-accept`, sandbox.key, { sdp: answer });
      assert.equal(preAccepted.status, 200);
      assert.deepEqual(preAccepted.body, { success: true, id: ringing.id, status: 'RINGING', sandbox: true });
      const accepted = await api('POST', `/v1/calls/${ringing.id}/accept`, sandbox.key, { sdp: answer });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      assert.deepEqual(accepted.body, { success: true, id: ringing.id, status: 'ACCEPTED', sandbox: true });
      await business.connected();

      const businessHeard = await eventually(
        async () => business.heard().frequencyHz === 440 && business.heard(),
        8000,
        'the business to hear 440 Hz',
      );
      assert.equal(businessHeard.frequencyHz, 440);
      const user = await eventually(
        async () => {
          const view = await heardBySimulatedUser(ringing.id);
          return view.heard.frequencyHz === 880 && view;
        },
        8000,
        'the simulated user to hear 880 Hz',
      );
      assert.equal(user.media, 'connected');
      assert.equal(user.answered, true);
      assert.ok(user.packetsReceived > 0);

      const ended = await api('POST', `/v1/calls/${ringing.id}/terminate`, sandbox.key, {});
      assert.equal(ended.status, 200);
      assert.deepEqual(ended.body, { success: true, id: ringing.id, status: 'COMPLETED', sandbox: true });
      const again = await api('POST', `/v1/calls/${ringing.id}/terminate`, sandbox.key, {});
      assert.deepEqual(again.body, {
        success: true,
        id: ringing.id,
        status: 'COMPLETED',
        alreadyEnded: true,
        sandbox: true,
      });
      const final = await eventually(
        async () => {
          const c = await getCall(ringing.id);
          return c.status === 'COMPLETED' && c;
        },
        3000,
        'COMPLETED',
      );
      assert.equal(final.endedBy, 'BUSINESS');
      // The terminate webhook the sandbox sends afterwards, as Meta does, adds no second call.ended.
      await new Promise((r) => setTimeout(r, 200));
      const outboxed = await outbox(t, final);
      assert.deepEqual(
        outboxed.map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.ok(
        outboxed.every((e) => e.payload.sandbox === true),
        'webhook payloads say sandbox',
      );
      const listed = await api('GET', '/v1/calls?limit=5', sandbox.key);
      assert.ok(listed.body.calls.every((c: { sandbox?: boolean }) => c.sandbox === true));
      const metaCalls = await api('GET', '/v1/calls?limit=5', t.numberA.key.key);
      assert.ok(metaCalls.body.calls.every((c: { sandbox?: boolean }) => c.sandbox === undefined));
      const after = await heardBySimulatedUser(ringing.id);
      assert.equal(after.ended, true);
      assert.equal(after.media, 'closed');
    });

    test('the simulated caller hangs up by itself after hangupAfterSeconds: COMPLETED by PEER', async () => {
      const started = await api('POST', '/v1/sandbox/calls', sandbox.key, { audio: 'echo', hangupAfterSeconds: 1 });
      const id = started.body.call.id;
      const business = new AudioEndpoint(peers, { source: toneSource(500) });
      endpoints.push(business);
      const answer = await business.acceptOffer((await getCall(id)).sdpOffer ?? '');
      assert.equal((await api('POST', `/v1/calls/${id}/accept`, sandbox.key, { sdp: answer })).status, 200);
      // An echoing caller sends the business's own tone back.
      await eventually(async () => business.heard().frequencyHz === 500, 8000, 'the echo of 500 Hz');
      const final = await eventually(
        async () => {
          const c = await getCall(id);
          return c.status === 'COMPLETED' && c;
        },
        5000,
        'the caller to hang up',
      );
      assert.equal(final.endedBy, 'PEER');
      assert.ok(final.durationSeconds !== null && final.durationSeconds >= 1);
    });

    test('a declined simulated call is REJECTED by BUSINESS; the caller side reads ended', async () => {
      const started = await api('POST', '/v1/sandbox/calls', sandbox.key, {});
      const id = started.body.call.id;
      const rejected = await api('POST', `/v1/calls/${id}/reject`, sandbox.key, {});
      assert.equal(rejected.status, 200);
      assert.equal(rejected.body.status, 'REJECTED');
      const c = await getCall(id);
      assert.equal(c.endedBy, 'BUSINESS');
      assert.equal((await heardBySimulatedUser(id)).ended, true);
    });

    test('accept with an SDP other than the pre-accepted one fails like Meta, and the call keeps ringing', async () => {
      const id = (await api('POST', '/v1/sandbox/calls', sandbox.key, {})).body.call.id;
      const business = new AudioEndpoint(peers);
      const other = new AudioEndpoint(peers);
      endpoints.push(business, other);
      const offer = (await getCall(id)).sdpOffer ?? '';
      const answer = await business.acceptOffer(offer);
      const otherAnswer = await other.acceptOffer(offer);
      assert.equal((await api('POST', `/v1/calls/${id}/pre-accept`, sandbox.key, { sdp: answer })).status, 200);
      const mismatch = await api('POST', `/v1/calls/${id}/accept`, sandbox.key, { sdp: otherAnswer });
      assert.equal(mismatch.status, 502);
      assert.equal(mismatch.body.code, 'PROVIDER_ERROR');
      assert.match(mismatch.body.details.providerMessage, /must match/);
      assert.equal((await getCall(id)).status, 'RINGING');
      assert.equal((await api('POST', `/v1/calls/${id}/reject`, sandbox.key, {})).status, 200);

      // An SDP that is not one is refused like Meta refuses it (502 PROVIDER_ERROR), never a 500.
      const next = (await api('POST', '/v1/sandbox/calls', sandbox.key, {})).body.call.id;
      for (const sdp of ['garbage', 'v=0\r\nm=video 9 RTP/AVP 96\r\n']) {
        const bad = await api('POST', `/v1/calls/${next}/accept`, sandbox.key, { sdp });
        assert.equal(bad.status, 502, JSON.stringify(bad.body));
        assert.equal(bad.body.code, 'PROVIDER_ERROR');
      }
      assert.equal((await getCall(next)).status, 'RINGING');
      assert.equal((await api('POST', `/v1/calls/${next}/reject`, sandbox.key, {})).status, 200);
    });

    test('calling DISABLED in the number’s settings: no simulated user gets through, no call goes out', async () => {
      const off = await api('PUT', '/v1/calls/settings', sandbox.key, { status: 'DISABLED' });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      try {
        const inbound = await api('POST', '/v1/sandbox/calls', sandbox.key, {
          from: '+15550003131',
          audio: 'tone:440',
        });
        assert.equal(inbound.status, 400, JSON.stringify(inbound.body));
        assert.match(inbound.body.details.reason, /calling is disabled/);
        // The refusal says how to turn calling back on.
        assert.match(inbound.body.details.reason, /PUT \/v1\/calls\/settings \{"status":"ENABLED"\}/);
        const to = '+15550003132';
        await permitted(to);
        const caller = new AudioEndpoint(peers, { source: toneSource(1000) });
        endpoints.push(caller);
        const outbound = await api('POST', '/v1/calls', sandbox.key, { to, sdp: await caller.createOffer() });
        assert.equal(outbound.status, 502, JSON.stringify(outbound.body));
        assert.equal(outbound.body.details.providerCode, 138000);
        const listed = await api('GET', '/v1/calls?peer=1555000313', sandbox.key);
        assert.deepEqual(listed.body.calls, [], 'no call stored either way');
      } finally {
        assert.equal((await api('PUT', '/v1/calls/settings', sandbox.key, { status: 'ENABLED' })).status, 200);
      }
    });

    test('an outbound call needs permission; asked, the user grants it and answers with real audio', async () => {
      const to = '+15550002222';
      const caller = new AudioEndpoint(peers, { source: toneSource(1000) });
      endpoints.push(caller);
      const offer = await caller.createOffer();

      const refused = await api('POST', '/v1/calls', sandbox.key, { to, sdp: offer });
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'META_CALL_PERMISSION_REQUIRED');
      // The refusal names the way to get the permission.
      assert.match(refused.body.error, /POST \/v1\/calls\/permissions\/request/);
      const before = await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`, sandbox.key);
      assert.equal(before.body.permission.status, 'no_permission');

      const asked = await api('POST', '/v1/calls/permissions/request', sandbox.key, { to });
      assert.equal(asked.status, 200);
      assert.match(asked.body.messageId, /^wamid\./);
      const granted = await eventually(
        async () => {
          const p = await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`, sandbox.key);
          return p.body.permission.status === 'temporary' && p.body;
        },
        4000,
        'the permission to be granted',
      );
      assert.ok(granted.permission.expiration_time > Date.now() / 1000);
      // The reply also arrives as an event (Meta's messages webhook), once.
      await eventually(
        async () => {
          const rows = await t.store.db.query<{ payload: string }>(
            "SELECT payload FROM events WHERE number_id = $1 AND type = 'call.permission_updated'",
            [sandbox.id],
          );
          const mine = rows.map((r) => JSON.parse(r.payload)).filter((p) => p.peerNumber === to.slice(1));
          return mine.length === 1 && mine[0].status === 'TEMPORARY';
        },
        3000,
        'one call.permission_updated',
      );

      const garbled = await api('POST', '/v1/calls', sandbox.key, { to, sdp: 'not an offer' });
      assert.equal(garbled.status, 502, JSON.stringify(garbled.body));
      assert.equal(garbled.body.code, 'PROVIDER_ERROR');

      const placed = await api('POST', '/v1/calls', sandbox.key, { to, sdp: offer });
      assert.equal(placed.status, 201, JSON.stringify(placed.body));
      assert.equal(placed.body.sandbox, true, 'the answer to POST /v1/calls says sandbox too');
      const id = placed.body.id;
      const answered = await eventually(
        async () => {
          const c = await getCall(id);
          return c.status === 'ACCEPTED' && c;
        },
        5000,
        'the sandbox user to answer',
      );
      assert.ok(answered.sdpAnswer);
      assert.equal((answered as Call & { sandbox?: boolean }).sandbox, true, 'outbound sandbox calls say so too');
      await caller.applyAnswer(answered.sdpAnswer);
      await caller.connected();
      // The number's setting: the user says 660 Hz; it hears the business's 1000 Hz.
      await eventually(async () => caller.heard().frequencyHz === 660, 8000, 'the user’s 660 Hz');
      await eventually(
        async () => (await heardBySimulatedUser(id)).heard.frequencyHz === 1000,
        8000,
        'the user to hear 1000 Hz',
      );
      assert.equal((await api('POST', `/v1/calls/${id}/terminate`, sandbox.key, {})).status, 200);
      const events = (await outbox(t, await getCall(id))).map((e) => e.type);
      assert.deepEqual(events, ['call.ringing', 'call.connected', 'call.ended']);
    });

    test('a second call to a user the number is already on a call with is refused like Meta (138003)', async () => {
      const to = '+15550003333';
      await permitted(to);
      const first = new AudioEndpoint(peers);
      const second = new AudioEndpoint(peers);
      endpoints.push(first, second);
      const placed = await api('POST', '/v1/calls', sandbox.key, { to, sdp: await first.createOffer() });
      assert.equal(placed.status, 201, JSON.stringify(placed.body));
      const stored = async () =>
        (
          await t.store.db.query('SELECT id FROM calls WHERE number_id = $1 AND peer_number = $2', [
            sandbox.id,
            '15550003333',
          ])
        ).length;

      const again = await api('POST', '/v1/calls', sandbox.key, { to, sdp: await second.createOffer() });
      assert.equal(again.status, 502, JSON.stringify(again.body));
      assert.equal(again.body.code, 'PROVIDER_ERROR');
      assert.equal(again.body.details.providerCode, 138003);
      assert.equal(await stored(), 1, 'no second call stored');

      // Once the first call has ended, the user can be called again.
      assert.equal((await api('POST', `/v1/calls/${placed.body.id}/terminate`, sandbox.key, {})).status, 200);
      await eventually(
        async () =>
          (await api('POST', '/v1/calls', sandbox.key, { to, sdp: await second.createOffer() })).status === 201,
        3000,
        'a new call once the first has ended',
      );
      const latest = (await api('GET', '/v1/calls?limit=1', sandbox.key)).body.calls[0];
      assert.equal((await api('POST', `/v1/calls/${latest.id}/terminate`, sandbox.key, {})).status, 200);
    });

    test('a number has at most ten simulated calls up at once: the eleventh is a 429, nothing stored', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await api('POST', '/v1/sandbox/calls', sandbox.key, { audio: 'silence' });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        ids.push(res.body.call.id);
      }
      const before = await t.store.db.query('SELECT id FROM calls WHERE number_id = $1', [sandbox.id]);
      const refused = await api('POST', '/v1/sandbox/calls', sandbox.key, {});
      assert.equal(refused.status, 429);
      assert.equal(refused.body.code, 'RATE_LIMITED');
      // The sandbox's own limit has no provider code: the field is left out, not null.
      assert.deepEqual(refused.body.details, {
        providerMessage: 'at most 10 simulated calls at once on a sandbox number',
        retryAfterSeconds: 5,
      });
      assert.equal(
        (await t.store.db.query('SELECT id FROM calls WHERE number_id = $1', [sandbox.id])).length,
        before.length,
      );
      for (const id of ids) {
        assert.equal((await api('POST', `/v1/calls/${id}/reject`, sandbox.key, {})).status, 200);
      }
      assert.equal((await api('POST', '/v1/sandbox/calls', sandbox.key, { audio: 'silence' })).status, 201);
    });

    test('the limit holds against simultaneous requests: 25 at once give ten calls at most, the rest 429', async () => {
      const live = async () =>
        (await t.store.db.query(`SELECT id FROM calls WHERE number_id = $1 AND status = 'RINGING'`, [sandbox.id]))
          .length;
      const already = await live();
      const answers = await Promise.all(
        Array.from({ length: 25 }, () => api('POST', '/v1/sandbox/calls', sandbox.key, { audio: 'tone:440' })),
      );
      const created = answers.filter((r) => r.status === 201);
      assert.equal(created.length, 10 - already, answers.map((r) => r.status).join(','));
      assert.ok(answers.every((r) => r.status === 201 || r.status === 429));
      assert.equal(await live(), 10);
      for (const r of created) {
        assert.equal((await api('POST', `/v1/calls/${r.body.call.id}/reject`, sandbox.key, {})).status, 200);
      }
    });

    test('bad sandbox input is a 400 and stores nothing; META numbers cannot simulate calls', async () => {
      const before = await t.store.db.query('SELECT id FROM calls WHERE number_id = $1', [sandbox.id]);
      for (const body of [
        { audio: 'tone:99999' },
        { audio: 'trumpet' },
        { audio: 'data:audio/wav;base64,AAAA' },
        { audio: 'http://127.0.0.1/x.wav' },
        { from: 'nobody' },
        { from: sandbox.phoneNumber },
        { hangupAfterSeconds: 0 },
        { answer: 'maybe' },
        { extra: true },
      ]) {
        const res = await api('POST', '/v1/sandbox/calls', sandbox.key, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.code, 'VALIDATION_ERROR', JSON.stringify(body));
        assert.ok(res.body.requestId);
        if ('audio' in body) {
          // Every refused audio names its field, as a refused `from` does.
          assert.equal(res.body.details.field, 'audio', JSON.stringify(res.body));
          assert.equal(typeof res.body.details.reason, 'string');
        }
      }
      const fromRefused = await api('POST', '/v1/sandbox/calls', sandbox.key, { from: sandbox.phoneNumber });
      assert.equal(fromRefused.body.details.field, 'from');
      const afterRows = await t.store.db.query('SELECT id FROM calls WHERE number_id = $1', [sandbox.id]);
      assert.equal(afterRows.length, before.length);

      const onMeta = await api('POST', '/v1/sandbox/calls', t.numberA.key.key, {});
      assert.equal(onMeta.status, 400);
      assert.equal(onMeta.body.code, 'FEATURE_NOT_SUPPORTED');
      const otherNumbers = await api('GET', `/v1/sandbox/calls/${before[0]?.id ?? 'call_x'}`, t.numberA.key.key);
      assert.equal(otherNumbers.status, 404);
    });
  });
}
