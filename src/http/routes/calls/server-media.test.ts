// Server media end to end (docs/spec/media.md "How media is tested"): a werift peer plays the WhatsApp user, its
// real offer arrives in a signed Meta connect webhook, callgate answers it with no SDP from the API client, and
// audio is checked by pitch at the peer and at a realtime WebSocket client. ICE runs on 127.0.0.1 only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LightMyRequestResponse } from 'fastify';
import { WebSocket } from 'ws';
import { Callgate } from '../../../../packages/sdk/src/index.ts';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, storedCall, untilStatus } from '../../../../test/helpers/calls.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { type OpenApiDocument, openApiContract } from '../../../../test/helpers/openapi-contract.ts';
import { sample } from '../../../../test/helpers/prometheus.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import {
  assertPitchesNear,
  connectUser,
  mediaServer,
  recordedPitches,
  startCall,
} from '../../../../test/helpers/server-media.ts';
import { storeKinds, TEST_SECRET_KEY } from '../../../../test/helpers/stores.ts';
import { wavFile } from '../../../../test/helpers/wav.ts';
import { buildApp } from '../../../app.ts';
import { KEY_BURST } from '../../../calls/keypad.ts';
import { systemClock } from '../../../clock.ts';
import { createLogger } from '../../../logger.ts';
import { dominantFrequency } from '../../../media/audio/detect.ts';
import { tone } from '../../../media/audio/tone.ts';
import { decodeMulaw, encodeMulaw } from '../../../media/engine/mulaw.ts';
import { OggOpusWriter } from '../../../media/engine/ogg-opus-writer.ts';
import { OPUS_PRE_SKIP, OpusFrameEncoder } from '../../../media/engine/opus-encoder.ts';
import { recordingsVolume } from '../../../media/engine/recordings-volume.ts';
import { AudioEndpoint, createPeerFactory, LOOPBACK_ICE, toneSource } from '../../../media/rtc/index.ts';
import { MemoryRateLimiter } from '../../../ratelimit/memory.ts';
import type { Db } from '../../../store/db.ts';

const FIXTURES = join(import.meta.dirname, '../../../../test/fixtures/media');

function oggTone(freq: number, seconds: number): Buffer {
  const enc = new OpusFrameEncoder(1);
  const chunks: Buffer[] = [];
  const w = new OggOpusWriter((c) => chunks.push(c), { channels: 1, preSkip: OPUS_PRE_SKIP });
  const pcm = tone(freq, seconds);
  for (let i = 0; i + 960 <= pcm.length; i += 960) {
    w.writePacket(enc.encode(pcm.subarray(i, i + 960)), 960);
  }
  w.end();
  enc.close();
  return Buffer.concat(chunks);
}

/** inject() has no port: the socket is on the listening server, same path and query. */
function onServer(t: TestApp, wsUrl: string): string {
  assert.match(wsUrl, /^ws:\/\/localhost(:80)?\/v1\/media\/realtime\?token=/);
  return wsUrl.replace(/^ws:\/\/[^/]+/, t.baseUrl.replace(/^http/, 'ws'));
}

/** GET or POST (with an empty JSON body) as number A. */
function numberAApi(t: TestApp) {
  return (method: 'GET' | 'POST', url: string, body: object = {}) =>
    t.app.inject({
      method,
      url,
      headers: { 'x-api-key': t.numberA.key.key },
      ...(method === 'POST' ? { payload: body } : {}),
    });
}

/**
 * A new SANDBOX number whose simulated user answers at once with `audio`, and a call placed from it to `to` without
 * an SDP (so with server media), once answered. `api` speaks as that number.
 */
async function answeredSandboxCall(t: TestApp, o: { name: string; audio: string; to: string; call: object }) {
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/numbers',
    headers: { 'x-api-key': t.tenantKey.key },
    payload: { provider: 'SANDBOX', name: o.name, sandbox: { answerAfterSeconds: 0, audio: o.audio } },
  });
  const key = created.json().apiKey.key;
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
  const to = o.to;
  assert.equal((await api('POST', '/v1/calls/permissions/request', { to })).statusCode, 200);
  await eventually(
    async () =>
      (await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`)).json().permission.status === 'temporary',
    4000,
    'the permission',
  );
  const placed = await api('POST', '/v1/calls', { to, ...o.call });
  assert.equal(placed.statusCode, 201, placed.body);
  const id: string = placed.json().id;
  await eventually(async () => (await api('GET', `/v1/calls/${id}`)).json().status === 'ACCEPTED', 5000, 'answer');
  return { api, id, key: key as string };
}

/** The pre_accept and accept requests Meta's stand-in got, in order. */
function answersSent(t: TestApp) {
  return t.fake.requests.filter((r) => ['pre_accept', 'accept'].includes(r.body?.action));
}

/** A second API process on the test app's database, with its own engine. */
function secondProcess(t: TestApp, config = t.config) {
  return buildApp({
    config,
    db: t.store.db,
    secretKey: TEST_SECRET_KEY,
    clock: systemClock,
    logger: createLogger('silent'),
    rateLimiter: new MemoryRateLimiter(() => Date.now()),
  });
}

/** A server-media call whose user hangs up while `play` (sent by the caller's function) downloads its file. */
async function playDuringHangUp(
  t: TestApp,
  endpoints: AudioEndpoint[],
  play: (callId: string, mediaUrl: string) => Promise<LightMyRequestResponse>,
  { finish = true }: { finish?: boolean } = {},
) {
  const download: { finish?: () => void } = {};
  const slow = createServer((_req, res) => {
    const wav = wavFile([tone(660, 1, 16_000)], 16_000);
    res.writeHead(200);
    res.write(wav.subarray(0, 100));
    download.finish = () => res.end(wav.subarray(100));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  try {
    const uc = await startCall(t, endpoints);
    const accepted = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${uc.call.id}/accept`,
      headers: { 'x-api-key': t.numberA.key.key },
      payload: {},
    });
    assert.equal(accepted.statusCode, 200);
    await connectUser(t, uc);
    const { port } = slow.address() as AddressInfo;
    const playing = play(uc.call.id, `http://127.0.0.1:${port}/a.wav`);
    await eventually(async () => download.finish !== undefined, 5000, 'the download under way');
    await t.fake.userHangsUp(uc.call.externalCallId);
    await eventually(async () => t.app.media.session(uc.call.id) === undefined, 3000, 'the media to close');
    if (finish) {
      download.finish?.();
    }
    return await playing;
  } finally {
    slow.closeAllConnections();
    slow.close();
  }
}

async function heardAtUser(user: AudioEndpoint, freq: number | null): Promise<number | null> {
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline) {
    if (user.heard().frequencyHz === freq) {
      return freq;
    }
    await sleep(40);
  }
  return user.heard().frequencyHz;
}

for (const kind of storeKinds()) {
  describe(`server media (META, no SDP from the client; ${kind})`, () => {
    let t: TestApp;
    const endpoints: AudioEndpoint[] = [];
    let media: Awaited<ReturnType<typeof mediaServer>>;
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', MEDIA_WORKERS: '2' } });
      media = await mediaServer({
        'tone.wav': wavFile([tone(660, 1, 16_000)], 16_000),
        'tone.ogg': oggTone(660, 1),
        'tone.mp3': readFileSync(join(FIXTURES, 'tone-660-stereo.mp3')),
        'long.wav': wavFile([tone(660, 10, 8000)], 8000),
        'page.html': Buffer.from('<html></html>'),
      });
    });
    after(async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      media.server.close();
      await t.close();
    });
    const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key }, ...(payload ? { payload } : {}) });

    test('accept without an SDP: callgate answers, the call is media "server", the caller’s 440 Hz reaches a Twilio-framed realtime client and its 880 Hz reaches the caller', async () => {
      const uc = await startCall(t, endpoints);
      const accept = await api('POST', `/v1/calls/${uc.call.id}/accept`, {});
      assert.equal(accept.statusCode, 200, accept.body);
      assert.equal(accept.json().status, 'ACCEPTED');
      await connectUser(t, uc);
      const got = (await api('GET', `/v1/calls/${uc.call.id}`)).json();
      assert.equal(got.media, 'server');
      assert.equal(typeof got.mediaNode, 'string');
      const listed = (await api('GET', '/v1/calls?limit=5')).json().calls;
      assert.equal(listed.find((c: { id: string }) => c.id === uc.call.id)?.media, 'server');

      const session = await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'talk' });
      assert.equal(session.statusCode, 200, session.body);
      const { wsUrl, token, expiresInSeconds } = session.json();
      assert.equal(expiresInSeconds, 60);
      assert.ok(wsUrl.includes(`token=${encodeURIComponent(token)}`));
      const ws = new WebSocket(onServer(t, wsUrl));
      const messages: { event: string; media?: { payload: string } }[] = [];
      ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString())));
      await new Promise((r) => ws.once('open', r));
      const media8k = await eventually(async () => {
        const m = messages.filter((x) => x.event === 'media');
        return m.length >= 60 && m;
      }, 5000);
      const pcm = decodeMulaw(Buffer.concat(media8k.slice(-50).map((m) => Buffer.from(m.media!.payload, 'base64'))));
      assert.equal(dominantFrequency(pcm, 8000), 440);

      const reply = encodeMulaw(tone(880, 3, 8000));
      for (let i = 0; i < reply.length; i += 160) {
        ws.send(
          JSON.stringify({
            event: 'media',
            streamSid: 'x',
            media: { payload: Buffer.from(reply.subarray(i, i + 160)).toString('base64') },
          }),
        );
      }
      assert.equal(await heardAtUser(uc.user, 880), 880);

      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      const end = await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      assert.equal(end.statusCode, 200, end.body);
      assert.equal(await closed, 1000);
      assert.equal(messages.at(-1)?.event, 'stop');
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      await eventually(async () => t.app.media.size === 0, 3000, 'the session to close');
    });

    test('keys the caller presses reach a listening realtime client as Twilio dtmf messages, once each, in order', async (ctx) => {
      const uc = await startCall(t, endpoints);
      // Ended even when an assertion fails: the tests after this one wait for every call's media to close.
      ctx.after(() => api('POST', `/v1/calls/${uc.call.id}/terminate`));
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const session = await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' });
      assert.equal(session.statusCode, 200, session.body);
      const ws = new WebSocket(onServer(t, session.json().wsUrl));
      const messages: { event: string; dtmf?: unknown; media?: { payload: string } }[] = [];
      ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString())));
      await new Promise((r) => ws.once('open', r));
      await eventually(async () => messages.some((m) => m.event === 'media'), 5000, 'audio first');
      assert.equal(uc.user.sendDigits('159#'), true, 'callgate’s answer took telephone-event');
      const digits = await eventually(async () => {
        const d = messages.filter((m) => m.event === 'dtmf');
        return d.length >= 4 && d;
      }, 5000);
      await eventually(async () => uc.user.digitsPending === 0, 5000, 'every digit sent');
      await sleep(200);
      assert.deepEqual(
        messages.filter((m) => m.event === 'dtmf').map((m) => m.dtmf),
        ['1', '5', '9', '#'].map((digit) => ({ track: 'inbound_track', digit })),
      );
      assert.equal(digits.length, 4);
      // Each key is a call.dtmf event too (an IVR on `play` gathers by webhook), with the keys so far.
      const keyEvents = await eventually(async () => {
        const e = (await outbox(t, uc.call)).filter((x) => x.type === 'call.dtmf');
        return e.length >= 4 && e;
      }, 5000);
      assert.deepEqual(
        keyEvents.map((e) => {
          const { digit, digits, count, callId, numberId, event } = e.payload;
          return { digit, digits, count, callId, numberId, event };
        }),
        ['1', '5', '9', '#'].map((digit, i) => ({
          digit,
          digits: '159#'.slice(0, i + 1),
          count: i + 1,
          callId: uc.call.id,
          numberId: t.numberA.id,
          event: 'call.dtmf',
        })),
      );
      // The caller's audio goes on around the digits: the 440 Hz after them still arrives.
      const before = messages.length;
      const after = await eventually(async () => {
        const m = messages.slice(before).filter((x) => x.event === 'media');
        return m.length >= 50 && m;
      }, 5000);
      const pcm = decodeMulaw(Buffer.concat(after.map((m) => Buffer.from(m.media!.payload, 'base64'))));
      assert.equal(dominantFrequency(pcm, 8000), 440);
      ws.close();
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
    });

    test('a peer flooding keys: every one reaches the realtime client, call.dtmf events stay within the limit', async (ctx) => {
      const uc = await startCall(t, endpoints);
      // Ended even when an assertion fails: the tests after this one wait for every call's media to close.
      ctx.after(() => api('POST', `/v1/calls/${uc.call.id}/terminate`));
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const session = await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' });
      const ws = new WebSocket(onServer(t, session.json().wsUrl));
      let keysAtClient = 0;
      ws.on('message', (d: Buffer) => {
        keysAtClient += JSON.parse(d.toString()).event === 'dtmf' ? 1 : 0;
      });
      await new Promise((r) => ws.once('open', r));
      // A new telephone event in every packet: 50 keys a second, no person presses that fast.
      assert.equal(uc.user.sendDigits('1234567890'.repeat(10), { toneFrames: 1, endRepeats: 1, gapFrames: 0 }), true);
      await eventually(async () => keysAtClient === 100, 10_000, 'every key at the realtime client');
      // The events are written one after the other, behind the sockets: the burst's are all there once its last is.
      const dtmfEvents = async () => (await outbox(t, uc.call)).filter((x) => x.type === 'call.dtmf');
      await eventually(async () => (await dtmfEvents()).length >= KEY_BURST, 10_000, 'the burst written');
      const events = await dtmfEvents();
      assert.ok(events.length >= KEY_BURST && events.length < 100, `${events.length} call.dtmf events for 100 keys`);
      const counts = events.map((e) => e.payload.count as number);
      assert.deepEqual(
        counts.slice(0, KEY_BURST),
        Array.from({ length: KEY_BURST }, (_, i) => i + 1),
        'the burst is told',
      );
      assert.ok(
        counts.every((c, i) => i === 0 || c > (counts[i - 1] ?? 0)),
        'count goes up, skipping what was dropped',
      );
      ws.close();
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
    });

    test('play with stopOnKey: a key the caller presses stops the prompt at once; a play without it goes on', async (ctx) => {
      const uc = await startCall(t, endpoints, 0);
      // Ended even when an assertion fails: the tests after this one wait for every call's media to close.
      ctx.after(() => api('POST', `/v1/calls/${uc.call.id}/terminate`));
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const prompt = await api('POST', `/v1/calls/${uc.call.id}/play`, {
        mediaUrl: media.url('long.wav'),
        stopOnKey: true,
      });
      assert.equal(prompt.statusCode, 200, prompt.body);
      assert.equal(await heardAtUser(uc.user, 660), 660);
      assert.equal(uc.user.sendDigits('2'), true);
      // The 10 s prompt stops within the key's own 100 ms and the frames around it, not at its end.
      assert.equal(await heardAtUser(uc.user, null), null, 'the prompt stopped');
      const keys = await eventually(async () => {
        const e = (await outbox(t, uc.call)).filter((x) => x.type === 'call.dtmf');
        return e.length === 1 && e;
      }, 5000);
      assert.equal(keys[0]?.payload.digit, '2');
      // Without stopOnKey the caller's keys do not cut it short.
      const music = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('long.wav') });
      assert.equal(music.statusCode, 200, music.body);
      assert.equal(await heardAtUser(uc.user, 660), 660);
      uc.user.sendDigits('3');
      await eventually(async () => uc.user.digitsPending === 0, 5000, 'the key sent');
      await sleep(600);
      assert.equal(uc.user.heard().frequencyHz, 660, 'still playing');
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
    });

    for (const file of ['tone.wav', 'tone.ogg', 'tone.mp3']) {
      test(`play ${file}: the caller hears 660 Hz for the file’s length (±5 %)`, async () => {
        const uc = await startCall(t, endpoints, 0);
        assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
        await connectUser(t, uc);
        const received: Int16Array[] = [];
        uc.user.onAudio((f) => received.push(f));
        const res = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url(file) });
        assert.equal(res.statusCode, 200, res.body);
        await sleep(file === 'tone.mp3' ? 2800 : 1800);
        const loud = received.filter((f) => dominantFrequency(f, 48_000) === 660).length;
        const seconds = (loud * 960) / 48_000;
        const want = file === 'tone.mp3' ? 2 : 1;
        assert.ok(Math.abs(seconds - want) <= want * 0.05, `heard 660 Hz for ${seconds} s`);
        await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      });
    }

    test('the SDK’s realtime helper yields the caller’s 440 Hz as 16 kHz frames and talks 880 Hz back, with marks', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const client = new Callgate({ baseUrl: t.baseUrl, apiKey: t.numberA.key.key });
      const stream = await client.calls.realtime(uc.call.id, { mode: 'talk' });
      const heard: Int16Array[] = [];
      for await (const frame of stream) {
        heard.push(frame);
        if (heard.length >= 60) {
          break;
        }
      }
      const pcm = new Int16Array(50 * 320);
      for (const [i, f] of heard.slice(-50).entries()) {
        pcm.set(f, i * 320);
      }
      assert.equal(dominantFrequency(pcm, 16_000), 440);
      const marks: string[] = [];
      stream.onMark = (name) => marks.push(name);
      stream.send(tone(880, 2, 16_000));
      stream.mark('said');
      assert.equal(await heardAtUser(uc.user, 880), 880);
      await eventually(async () => marks.includes('said'), 5000, 'the mark after the audio');
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      assert.equal(await stream.closed, 1000);
    });

    test('DELETE play and play {clear:true} stop the queue; a bad media URL or file is a 400 that plays nothing', async () => {
      const uc = await startCall(t, endpoints, 0);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      for (const name of ['page.html', 'missing.wav']) {
        const bad = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url(name) });
        assert.equal(bad.statusCode, 400, bad.body);
        assert.equal(bad.json().code, 'VALIDATION_ERROR');
      }
      assert.equal(
        (await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('long.wav') })).statusCode,
        200,
      );
      assert.equal(await heardAtUser(uc.user, 660), 660);
      const stop = await api('DELETE', `/v1/calls/${uc.call.id}/play`);
      assert.equal(stop.statusCode, 200, stop.body);
      assert.equal(await heardAtUser(uc.user, null), null);
      // media.md: `play {clear:true}` stops the queue as DELETE does.
      const again = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('long.wav') });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(await heardAtUser(uc.user, 660), 660);
      const clear = await api('POST', `/v1/calls/${uc.call.id}/play`, { clear: true });
      assert.equal(clear.statusCode, 200, clear.body);
      assert.equal(clear.json().success, true);
      assert.equal(await heardAtUser(uc.user, null), null);
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
    });

    test('pre-accept then accept without SDPs: one engine answer, sent to Meta twice, as Meta requires', async () => {
      const uc = await startCall(t, endpoints);
      const pre = await api('POST', `/v1/calls/${uc.call.id}/pre-accept`, {});
      assert.equal(pre.statusCode, 200, pre.body);
      // No body at all means {} (as on accept): a repeat is answered here, Meta takes one pre_accept per call.
      const again = await api('POST', `/v1/calls/${uc.call.id}/pre-accept`);
      assert.equal(again.statusCode, 200, again.body);
      // The pre-accept decided the recording (none): an accept asking for one is refused, not silently ignored.
      const contrary = await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true });
      assert.equal(contrary.statusCode, 400, contrary.body);
      assert.match(contrary.json().details.reason, /pre-accept decided the recording/);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: false })).statusCode, 200);
      const sent = t.fake.requests.filter(
        (r) => r.body?.call_id === uc.call.externalCallId && ['pre_accept', 'accept'].includes(r.body?.action),
      );
      assert.equal(sent.length, 2);
      assert.equal(sent[0]!.body.session.sdp, sent[1]!.body.session.sdp);
      await connectUser(t, uc);
      assert.deepEqual(t.fake.violations, []);
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
    });

    test('GET /metrics counts the media: sessions, first audio, frames paced on the workers, realtime sockets, ends', async () => {
      const scrape = async () => (await t.app.inject({ url: '/metrics' })).body;
      const read = (body: string, series: string) => sample(body, series) ?? 0;
      await eventually(async () => t.app.media.size === 0, 5000, 'earlier calls to close their media');
      const before = await scrape();
      assert.equal(read(before, 'callgate_media_sessions'), 0);
      assert.equal(read(before, 'callgate_media_sessions_max'), 100);
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const { wsUrl } = (await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' })).json();
      const ws = new WebSocket(onServer(t, wsUrl));
      await new Promise((r) => ws.once('open', r));

      // Frames paced on the workers reach the main thread's counters once a second.
      const frames0 = read(before, 'callgate_media_frames_sent_total');
      const during = await eventually(async () => {
        const body = await scrape();
        return read(body, 'callgate_media_frames_sent_total') >= frames0 + 50 && body;
      }, 5000);
      assert.equal(read(during, 'callgate_media_sessions'), 1);
      assert.equal(read(during, 'callgate_media_realtime_sockets'), 1);
      assert.equal(
        read(during, 'callgate_media_worker_sessions{worker="0"}') +
          read(during, 'callgate_media_worker_sessions{worker="1"}'),
        1,
      );
      const firstAudio =
        read(during, 'callgate_media_first_audio_seconds_sum') - read(before, 'callgate_media_first_audio_seconds_sum');
      assert.equal(
        read(during, 'callgate_media_first_audio_seconds_count') -
          read(before, 'callgate_media_first_audio_seconds_count'),
        1,
      );
      assert.ok(firstAudio > 0 && firstAudio < 10, `first audio after ${firstAudio} s`);
      assert.ok(read(during, 'callgate_media_frames_late_total') <= read(during, 'callgate_media_frames_sent_total'));

      const closed = new Promise((r) => ws.once('close', r));
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      await closed;
      const after = await eventually(async () => {
        const body = await scrape();
        return read(body, 'callgate_media_sessions') + read(body, 'callgate_media_realtime_sockets') === 0 && body;
      }, 5000);
      assert.equal(
        read(after, 'callgate_media_sessions_ended_total{reason="call_ended"}') -
          read(before, 'callgate_media_sessions_ended_total{reason="call_ended"}'),
        1,
      );
    });

    test('the user hanging up closes the media and its sockets', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      const { wsUrl } = (await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' })).json();
      const ws = new WebSocket(`${onServer(t, wsUrl)}&format=pcm16`);
      const texts: { event: string }[] = [];
      ws.on('message', (d: Buffer, binary) => binary || texts.push(JSON.parse(d.toString())));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      await new Promise((r) => ws.once('open', r));
      await t.fake.userHangsUp(uc.call.externalCallId);
      assert.equal(await closed, 1000);
      assert.equal(texts.at(-1)?.event, 'stop');
      const ended = await eventually(async () => {
        const c = await storedCall(t, t.numberA, uc.call.id);
        return c?.status === 'COMPLETED' && c;
      });
      assert.equal(ended.endedBy, 'PEER');
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      // Its media is over: play, stop-play and a new session are a state conflict, as on a web number.
      for (const [method, path, body] of [
        ['POST', 'play', { mediaUrl: 'https://example.com/a.wav' }],
        ['DELETE', 'play', undefined],
        ['POST', 'realtime-session', { mode: 'talk' }],
      ] as const) {
        const res = await api(method, `/v1/calls/${uc.call.id}/${path}`, body);
        assert.equal(res.statusCode, 409, `${method} ${path}: ${res.body}`);
        assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
        assert.equal(res.json().details.status, 'COMPLETED');
      }
    });

    test('the user hanging up while a play’s file downloads: that play is a 409 with the ended status, not a 200', async () => {
      const res = await playDuringHangUp(t, endpoints, (callId, mediaUrl) =>
        api('POST', `/v1/calls/${callId}/play`, { mediaUrl }),
      );
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.equal(res.json().details.status, 'COMPLETED');
    });

    test('the user hanging up while a play’s download stalls: the download is given up, the play a 409 at once', async () => {
      // The file never comes: the play must not wait out the download's 15 s limit and then blame the file (400).
      const res = await playDuringHangUp(
        t,
        endpoints,
        (callId, mediaUrl) => api('POST', `/v1/calls/${callId}/play`, { mediaUrl }),
        { finish: false },
      );
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.equal(res.json().details.status, 'COMPLETED');
    });

    test('right after our own terminate, before the engine has closed the session: play and a new session are a 409', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
      for (const [method, path, body] of [
        ['POST', 'play', { clear: true }],
        ['DELETE', 'play', undefined],
        ['POST', 'realtime-session', { mode: 'talk' }],
      ] as const) {
        const res = await api(method, `/v1/calls/${uc.call.id}/${path}`, body);
        assert.equal(res.statusCode, 409, `${method} ${path}: ${res.body}`);
        assert.equal(res.json().details.status, 'COMPLETED');
      }
    });

    test('record: the call is recorded to stereo Ogg/Opus (caller 440 Hz left, played 660 Hz right), announced, served with ranges, deletable', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
      await connectUser(t, uc);
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().recording.status, 'recording');
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}/recording`)).statusCode, 409);
      await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('long.wav') });
      await sleep(2000);
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      const recording = await eventually(async () => {
        const r = (await api('GET', `/v1/calls/${uc.call.id}`)).json().recording;
        return r?.status === 'ready' && r;
      });
      assert.ok(recording.durationSeconds >= 2, JSON.stringify(recording));
      const events = await outbox(t, uc.call);
      const ready = events.find((e) => e.type === 'call.recording_ready');
      assert.ok(ready);
      assert.deepEqual((ready.payload as { recording: unknown }).recording, recording);

      const file = await api('GET', `/v1/calls/${uc.call.id}/recording`);
      assert.equal(file.statusCode, 200);
      assert.equal(file.headers['content-type'], 'audio/ogg');
      assert.equal(file.rawPayload.length, recording.sizeBytes);
      assertPitchesNear(await recordedPitches(file.rawPayload), [440, 660]);

      const part = await t.app.inject({
        url: `/v1/calls/${uc.call.id}/recording`,
        headers: { 'x-api-key': t.numberA.key.key, range: 'bytes=10-99' },
      });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 10-99/${recording.sizeBytes}`);
      assert.deepEqual(part.rawPayload, file.rawPayload.subarray(10, 100));
      const beyond = await t.app.inject({
        url: `/v1/calls/${uc.call.id}/recording`,
        headers: { 'x-api-key': t.numberA.key.key, range: `bytes=${recording.sizeBytes}-` },
      });
      assert.equal(beyond.statusCode, 416);
      assert.equal(beyond.json().code, 'RANGE_NOT_SATISFIABLE');
      const other = await t.app.inject({
        url: `/v1/calls/${uc.call.id}/recording`,
        headers: { 'x-api-key': t.numberB.key.key },
      });
      assert.equal(other.statusCode, 404);
      assert.equal(other.json().code, 'CALL_NOT_FOUND');

      const del = await api('DELETE', `/v1/calls/${uc.call.id}/recording`);
      assert.equal(del.statusCode, 200, del.body);
      assert.equal((await api('DELETE', `/v1/calls/${uc.call.id}/recording`)).statusCode, 200);
      const gone = (await api('GET', `/v1/calls/${uc.call.id}/recording`)).json();
      assert.equal(gone.code, 'RECORDING_NOT_FOUND');
      assert.equal(gone.details.reason, "this call's recording was deleted");
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().recording.status, 'deleted');
    });

    test('POST /v1/calls without an SDP: the engine offers, the user’s answer in Meta’s connect webhook is applied, and audio flows both ways', async () => {
      // The user's phone: a werift peer answering callgate's offer, its answer sent back in Meta's connect webhook.
      const user = new AudioEndpoint(createPeerFactory(LOOPBACK_ICE), { source: toneSource(440) });
      endpoints.push(user);
      t.fake.answerOffersWith((offer) => user.acceptOffer(offer));
      try {
        const peer = nextPeer();
        t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
        const placed = await api('POST', '/v1/calls', { to: `+${peer}` });
        assert.equal(placed.statusCode, 201, placed.body);
        const id: string = placed.json().id;
        const ringing = await untilStatus(t, t.numberA, id, 'RINGING');
        const offer = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === peer);
        assert.equal(offer?.body.session.sdp_type, 'offer');
        await t.fake.userAnswers(ringing.externalCallId);
        await untilStatus(t, t.numberA, id, 'ACCEPTED');
        await user.connected();
        const got = (await api('GET', `/v1/calls/${id}`)).json();
        assert.equal(got.media, 'server');
        assert.equal(got.mediaNode, t.app.media.node);

        const { wsUrl } = (await api('POST', `/v1/calls/${id}/realtime-session`, { mode: 'talk' })).json();
        const ws = new WebSocket(`${onServer(t, wsUrl)}&format=pcm16`);
        const frames: Buffer[] = [];
        ws.on('message', (d: Buffer, binary) => binary && frames.push(d));
        await new Promise((r) => ws.once('open', r));
        await eventually(async () => frames.length >= 60, 8000, 'the user’s audio');
        const pcm = Buffer.concat(frames.slice(-50));
        assert.equal(dominantFrequency(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2), 16_000), 440);
        const reply = tone(880, 3, 16_000);
        for (let i = 0; i < reply.length; i += 320) {
          ws.send(Buffer.from(reply.buffer, reply.byteOffset + i * 2, 640));
        }
        assert.equal(await heardAtUser(user, 880), 880);
        const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
        assert.equal((await api('POST', `/v1/calls/${id}/terminate`)).statusCode, 200);
        assert.equal(await closed, 1000);
        assert.deepEqual(t.fake.violations, []);
      } finally {
        t.fake.answerOffersWith(null);
      }
    });

    test('realtime-session and play on a call whose media callgate does not hold stay as before', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().media, undefined, 'ringing: not decided');
      // Not answered yet: the number has the feature, the call not yet, and the reason says how it gets it.
      const early = await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'talk' });
      assert.equal(early.statusCode, 400, early.body);
      assert.equal(early.json().code, 'FEATURE_NOT_SUPPORTED', early.body);
      // The code stays (clients match it); the text says what is wrong with the call, not with the number.
      assert.equal(
        early.json().error,
        'This call is still ringing: callgate holds its audio only once it is answered without an sdp',
      );
      assert.match(early.json().details?.reason ?? '', /answered without an sdp/);
      // Answered with the business's own SDP: media.md's "relay".
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { sdp: CANNED_ANSWER_SDP })).statusCode, 200);
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().media, 'relay');
      const listed = (await api('GET', '/v1/calls?limit=100')).json().calls as { id: string; media?: string }[];
      assert.equal(listed.find((c) => c.id === uc.call.id)?.media, 'relay');
      const play = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('tone.wav') });
      assert.equal(play.statusCode, 400);
      assert.equal(play.json().code, 'FEATURE_NOT_SUPPORTED');
      assert.equal(play.json().error, 'callgate does not hold this call’s audio: your own SDP carries it');
      assert.equal((await api('DELETE', `/v1/calls/${uc.call.id}/play`)).json().code, 'FEATURE_NOT_SUPPORTED');
      const session = await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' });
      assert.equal(session.statusCode, 400, session.body);
      assert.equal(session.json().code, 'FEATURE_NOT_SUPPORTED');
      assert.match(session.json().details?.reason ?? '', /answered without an sdp/);
      const stop = (await api('DELETE', `/v1/calls/${uc.call.id}/play`)).json();
      assert.match(stop.details?.reason ?? '', /answered without an sdp/);
    });

    test('play and realtime-session on a call that ended unanswered say the call ended, not that the number lacks it', async () => {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/reject`, {})).statusCode, 200);
      const requests = [
        await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('tone.wav') }),
        await api('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'talk' }),
        await api('DELETE', `/v1/calls/${uc.call.id}/play`),
      ];
      for (const res of requests) {
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'FEATURE_NOT_SUPPORTED', res.body);
        assert.equal(res.json().error, 'This call ended without callgate ever holding its audio');
        assert.match(res.json().details?.reason ?? '', /answered without an sdp/);
      }
    });
  });
}

describe('server media: capacity and failure', () => {
  const endpoints: AudioEndpoint[] = [];
  after(() => Promise.all(endpoints.map((e) => e.close())));

  test('engine off: accept without an SDP is 503 MEDIA_CAPACITY, nothing reaches Meta, the call keeps ringing', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_ENGINE: 'off' } });
    try {
      const uc = await startCall(t, endpoints);
      for (const action of ['accept', 'pre-accept']) {
        const res = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${uc.call.id}/${action}`,
          headers: { 'x-api-key': t.numberA.key.key },
          payload: {},
        });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.json().code, 'MEDIA_CAPACITY');
        assert.match(res.json().details.reason, /media engine is off.*MEDIA_ENGINE/);
      }
      assert.equal(t.fake.countRequests({ call_id: uc.call.externalCallId }), 0);
      assert.equal((await storedCall(t, t.numberA, uc.call.id))?.status, 'RINGING');
      const body = (await t.app.inject({ url: '/metrics' })).body;
      assert.equal(sample(body, 'callgate_media_sessions_refused_total{reason="capacity"}'), 2);
      assert.equal(sample(body, 'callgate_media_sessions_max'), 0);
    } finally {
      await t.close();
    }
  });

  test('engine off or full: POST /v1/calls without an SDP is 503 MEDIA_CAPACITY, nothing reaches Meta, no call stored', async () => {
    for (const env of [{ MEDIA_ENGINE: 'off' }, { MEDIA_MAX_SESSIONS: '1' }] as Record<string, string>[]) {
      const t = await buildTestApp('sqlite', { env });
      try {
        const post = (url: string, payload: object) =>
          t.app.inject({ method: 'POST', url, headers: { 'x-api-key': t.numberA.key.key }, payload });
        if (env.MEDIA_MAX_SESSIONS) {
          const held = await startCall(t, endpoints);
          assert.equal((await post(`/v1/calls/${held.call.id}/accept`, {})).statusCode, 200);
        }
        const connectsBefore = t.fake.countRequests({ action: 'connect' });
        const peer = nextPeer();
        t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
        const res = await post('/v1/calls', { to: `+${peer}` });
        assert.equal(res.statusCode, 503, `${JSON.stringify(env)}: ${res.body}`);
        assert.equal(res.json().code, 'MEDIA_CAPACITY');
        assert.match(res.json().details.reason, env.MEDIA_ENGINE ? /MEDIA_ENGINE/ : /MEDIA_MAX_SESSIONS/);
        assert.equal(t.fake.countRequests({ action: 'connect' }), connectsBefore, 'no offer went to Meta');
        const listed = (
          await t.app.inject({ url: '/v1/calls?limit=100', headers: { 'x-api-key': t.numberA.key.key } })
        ).json().calls as { direction: string }[];
        assert.equal(listed.filter((c) => c.direction === 'OUTBOUND').length, 0, 'no call stored');
        // With the business's own offer the engine is not involved: the call is placed and shows media "relay".
        const relayed = await post('/v1/calls', { to: `+${peer}`, sdp: CANNED_OFFER_SDP });
        assert.equal(relayed.statusCode, 201, relayed.body);
        const got = await t.app.inject({
          url: `/v1/calls/${relayed.json().id}`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(got.json().media, 'relay');
      } finally {
        await t.close();
      }
    }
  });

  test('play queues at most MEDIA_PLAY_MAX_SECONDS of audio per call: past it a 429, until it plays out or is stopped', async () => {
    const t = await buildTestApp('sqlite', {
      env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', MEDIA_PLAY_MAX_SECONDS: '15' },
    });
    const files = await mediaServer({ 'ten.wav': wavFile([tone(660, 10, 8000)], 8000) });
    try {
      const uc = await startCall(t, endpoints, 0);
      const post = (path: string, payload?: object) =>
        t.app.inject({
          method: path === 'stop' ? 'DELETE' : 'POST',
          url: `/v1/calls/${uc.call.id}/${path === 'stop' ? 'play' : path}`,
          headers: { 'x-api-key': t.numberA.key.key },
          ...(payload ? { payload } : {}),
        });
      assert.equal((await post('accept', {})).statusCode, 200);
      const play = () => post('play', { mediaUrl: files.url('ten.wav') });
      assert.equal((await play()).statusCode, 200, '10 s queued');
      assert.equal((await play()).statusCode, 200, '20 s queued: the queue was within 15 s when asked');
      const full = await play();
      assert.equal(full.statusCode, 429, full.body);
      assert.equal(full.json().code, 'RATE_LIMITED');
      assert.match(full.json().details.reason, /s of audio queued/);
      assert.ok(Number(full.headers['retry-after']) >= 1, 'Retry-After: when the queue is back under the limit');
      assert.equal((await post('stop')).statusCode, 200);
      assert.equal((await play()).statusCode, 200, 'a stopped queue takes files again');
      await post('terminate');
    } finally {
      files.server.close();
      await t.close();
    }
  });

  test('play fetches only what the SSRF guard allows: plain http or a private address is a 400 and nothing is fetched', async () => {
    // No WEBHOOK_ALLOW_INSECURE_URLS here: the guard of webhook URLs applies to a server-media call's play too.
    const t = await buildTestApp('sqlite');
    const files = await mediaServer({ 'tone.wav': wavFile([tone(660, 1, 16_000)], 16_000) });
    let fetched = 0;
    files.server.on('request', () => {
      fetched += 1;
    });
    try {
      const api = numberAApi(t);
      const uc = await startCall(t, endpoints, 0);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`)).statusCode, 200);
      await connectUser(t, uc);
      const { port } = new URL(files.url('tone.wav'));
      for (const [mediaUrl, reason] of [
        [files.url('tone.wav'), /must use https/],
        [`https://127.0.0.1:${port}/tone.wav`, /non-public address/],
        ['https://169.254.169.254/latest/meta-data/', /non-public address/],
        ['https://10.0.0.8/a.mp3', /non-public address/],
      ] as const) {
        const res = await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl });
        assert.equal(res.statusCode, 400, `${mediaUrl}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.match(res.json().details.reason, reason, mediaUrl);
      }
      assert.equal(fetched, 0, 'no request reached the loopback file server');
      assert.equal(uc.user.heard().frequencyHz, null, 'the caller heard nothing');
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
    } finally {
      files.server.close();
      await t.close();
    }
  });

  test('a full engine refuses the next call with 503 and answers it once a session is free', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_MAX_SESSIONS: '1' } });
    const post = (url: string) =>
      t.app.inject({ method: 'POST', url, headers: { 'x-api-key': t.numberA.key.key }, payload: {} });
    try {
      const first = await startCall(t, endpoints);
      const second = await startCall(t, endpoints);
      assert.equal((await post(`/v1/calls/${first.call.id}/accept`)).statusCode, 200);
      await connectUser(t, first);
      // media.md §3: accept and pre-accept alike are refused, never a half-answered call.
      for (const action of ['accept', 'pre-accept']) {
        const refused = await post(`/v1/calls/${second.call.id}/${action}`);
        assert.equal(refused.statusCode, 503, `${action}: ${refused.body}`);
        assert.equal(refused.json().code, 'MEDIA_CAPACITY');
        assert.match(refused.json().details.reason, /every media session.*MEDIA_MAX_SESSIONS/);
      }
      assert.equal(t.fake.countRequests({ call_id: second.call.externalCallId }), 0);
      assert.equal((await storedCall(t, t.numberA, second.call.id))?.status, 'RINGING');
      const body = (await t.app.inject({ url: '/metrics' })).body;
      assert.equal(sample(body, 'callgate_media_sessions_refused_total{reason="capacity"}'), 2);
      assert.equal(sample(body, 'callgate_media_sessions'), 1);
      assert.equal(sample(body, 'callgate_media_sessions_max'), 1);
      // Paced on this thread (MEDIA_WORKERS unset): counted as they go.
      await eventually(async () => {
        const frames = sample((await t.app.inject({ url: '/metrics' })).body, 'callgate_media_frames_sent_total');
        return (frames ?? 0) >= 10;
      }, 3000);
      await post(`/v1/calls/${first.call.id}/terminate`);
      await eventually(async () => t.app.media.size === 0, 3000, 'the first session to close');
      assert.equal((await post(`/v1/calls/${second.call.id}/accept`)).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  for (const kind of storeKinds()) {
    test(`Meta refusing the pre-accepted answer leaves the call ringing; the accept tried again answers it with server media and records it (${kind})`, async () => {
      const t = await buildTestApp(kind, { env: { MEDIA_WORKERS: '1' } });
      const accept = (id: string) =>
        t.app.inject({
          method: 'POST',
          url: `/v1/calls/${id}/accept`,
          headers: { 'x-api-key': t.numberA.key.key },
          payload: { record: true },
        });
      try {
        const uc = await startCall(t, endpoints);
        // The engine's answer goes to Meta as pre_accept first: refused there, nothing was accepted.
        t.fake.inject({
          action: 'pre_accept',
          times: 1,
          status: 400,
          error: { code: 100, message: 'Invalid parameter' },
        });
        const refused = await accept(uc.call.id);
        assert.equal(refused.statusCode, 502, refused.body);
        assert.equal(refused.json().code, 'PROVIDER_ERROR');
        assert.equal((await storedCall(t, t.numberA, uc.call.id))?.status, 'RINGING');
        assert.equal(t.app.media.size, 0);
        const afterRefusal = await t.app.inject({
          method: 'GET',
          url: `/v1/calls/${uc.call.id}`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(afterRefusal.json().media, undefined, 'no server media is claimed for a refused answer');
        const metrics = (await t.app.inject({ url: '/metrics' })).body;
        assert.equal(sample(metrics, 'callgate_media_sessions_ended_total{reason="call_ended"}'), null, 'nor counted');

        const retried = await accept(uc.call.id);
        assert.equal(retried.statusCode, 200, retried.body);
        const call = await t.app.inject({
          method: 'GET',
          url: `/v1/calls/${uc.call.id}`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(call.json().media, 'server');
        assert.equal(call.json().mediaNode, t.app.media.node);
        await connectUser(t, uc);
        await sleep(500);
        const end = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${uc.call.id}/terminate`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(end.statusCode, 200, end.body);
        // The refused attempt's file is gone, so the second records afresh instead of failing on it.
        const recording = await eventually(async () => {
          const r = (
            await t.app.inject({
              method: 'GET',
              url: `/v1/calls/${uc.call.id}`,
              headers: { 'x-api-key': t.numberA.key.key },
            })
          ).json().recording;
          return r?.status !== 'recording' && r;
        }, 5000);
        assert.equal(recording.status, 'ready', JSON.stringify(recording));
        const file = await t.app.inject({
          method: 'GET',
          url: `/v1/calls/${uc.call.id}/recording`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(file.statusCode, 200);
        assert.ok(recording.sizeBytes > 1000, JSON.stringify(recording));
        assert.equal(file.rawPayload.length, recording.sizeBytes, 'the file is the second attempt’s recording');
        // The row names the directory it was written to, so a process with another RECORDINGS_DIR knows it is not here.
        const [row] = await t.store.db.query<{ v: string }>(
          'SELECT recording_volume AS v FROM call_media WHERE call_id = $1',
          [uc.call.id],
        );
        assert.equal(row?.v, recordingsVolume(t.config.media.recordingsDir, false));
        assert.match(String(row?.v), /^vol_[0-9a-f]{24}$/);
      } finally {
        await t.close();
      }
    });
  }

  test('Meta not answering the accept in time: the pre-accepted answer and its session stay, a retry sends that answer', async () => {
    const t = await buildTestApp('sqlite');
    const api = numberAApi(t);
    try {
      const uc = await startCall(t, endpoints);
      t.fake.inject({ action: 'accept', times: 1, hang: true });
      const unanswered = await api('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(unanswered.json().code, 'PROVIDER_UNAVAILABLE', unanswered.body);
      const ringing = (await api('GET', `/v1/calls/${uc.call.id}`)).json();
      assert.equal(ringing.status, 'RINGING');
      assert.equal(ringing.media, 'server', 'Meta holds the pre-accepted answer: the session that made it stays');
      assert.equal(ringing.mediaNode, t.app.media.node);
      assert.equal(t.app.media.size, 1);

      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`)).statusCode, 200);
      const answers = answersSent(t);
      assert.deepEqual(
        answers.map((r) => r.body?.action),
        ['pre_accept', 'accept', 'accept'],
      );
      const sdps = new Set(answers.map((r) => JSON.stringify((r.body as { session?: unknown }).session)));
      assert.equal(sdps.size, 1, 'one answer, sent three times: Meta takes no other after a pre_accept');
      await connectUser(t, uc);
      assert.equal(t.app.media.size, 1);
    } finally {
      await t.close();
    }
  });

  test('Meta taking the pre_accept but answering too late: the answer and its session stay, a retry accepts with it', async () => {
    const t = await buildTestApp('sqlite');
    const api = numberAApi(t);
    try {
      const uc = await startCall(t, endpoints);
      // Past PROVIDER_TIMEOUT_MS (400 in tests): callgate gives up on the reply, yet Meta holds the pre_accept.
      t.fake.inject({ action: 'pre_accept', times: 1, latencyMs: 700 });
      const unanswered = await api('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(unanswered.json().code, 'PROVIDER_UNAVAILABLE', unanswered.body);
      await sleep(500);
      const ringing = (await api('GET', `/v1/calls/${uc.call.id}`)).json();
      assert.equal(ringing.status, 'RINGING');
      assert.equal(ringing.media, 'server', 'Meta may hold the answer: the session that made it stays');
      assert.equal(t.app.media.size, 1);

      const retried = await api('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(retried.statusCode, 200, retried.body);
      const answers = answersSent(t);
      assert.deepEqual(
        answers.map((r) => r.body?.action),
        ['pre_accept', 'accept'],
        'one pre_accept per call, then the accept with its answer',
      );
      assert.equal(answers[0]?.body.session.sdp, answers[1]?.body.session.sdp);
      await connectUser(t, uc);
      assert.equal(t.app.media.size, 1);
    } finally {
      await t.close();
    }
  });

  test('a pre-accept Meta answers too late: its answer and session stay, and the accept sends that answer', async () => {
    const t = await buildTestApp('sqlite');
    const api = numberAApi(t);
    try {
      const uc = await startCall(t, endpoints);
      t.fake.inject({ action: 'pre_accept', times: 1, latencyMs: 700 });
      const unanswered = await api('POST', `/v1/calls/${uc.call.id}/pre-accept`);
      assert.equal(unanswered.json().code, 'PROVIDER_UNAVAILABLE', unanswered.body);
      await sleep(500);
      assert.equal(t.app.media.size, 1, 'Meta may hold the answer: the session that made it stays');
      // A repeat is answered here: Meta takes one pre_accept per call.
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/pre-accept`)).statusCode, 200);
      const accepted = await api('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(accepted.statusCode, 200, accepted.body);
      const answers = answersSent(t);
      assert.deepEqual(
        answers.map((r) => r.body?.action),
        ['pre_accept', 'accept'],
      );
      assert.equal(answers[0]?.body.session.sdp, answers[1]?.body.session.sdp);
      await connectUser(t, uc);
    } finally {
      await t.close();
    }
  });

  // Meta refuses to reject a connected call as if it were over: a reject recorded it MISSED while the user stayed on.
  for (const action of ['terminate', 'reject']) {
    test(`an accept Meta carried out but answered too late: a ${action} hangs the connected call up at Meta`, async () => {
      const t = await buildTestApp('sqlite');
      const api = numberAApi(t);
      try {
        const uc = await startCall(t, endpoints);
        t.fake.inject({ action: 'accept', times: 1, latencyMs: 1000 });
        const unanswered = await api('POST', `/v1/calls/${uc.call.id}/accept`);
        assert.equal(unanswered.json().code, 'PROVIDER_UNAVAILABLE', unanswered.body);
        await eventually(async () => t.fake.callState(uc.call.externalCallId) === 'ACTIVE', 3000, 'Meta to connect it');
        const ending = await api('POST', `/v1/calls/${uc.call.id}/${action}`);
        assert.equal(ending.statusCode, 200, ending.body);
        assert.equal(t.fake.callState(uc.call.externalCallId), 'ENDED', 'the user is not left connected');
        const ended = await storedCall(t, t.numberA, uc.call.id);
        assert.equal(ended?.endedBy, 'BUSINESS');
        assert.equal(ending.json().status, ended?.status);
        await eventually(async () => t.app.media.size === 0, 3000, 'the session to close with the call');
        await t.fake.flush();
        const types = (await outbox(t, uc.call)).map((e) => e.type);
        assert.equal(types.filter((type) => type === 'call.ended').length, 1, types.join());
        assert.ok(!types.includes('call.missed'), types.join());
      } finally {
        await t.close();
      }
    });
  }

  test('the user hanging up between the pre_accept and the accept: 409, the timeline says so, the session closes', async () => {
    // Meta holds the accept long enough for the test to hang up meanwhile, and answers well inside the deadline:
    // 250 ms of a 400 ms deadline left a busy machine too little of either.
    const t = await buildTestApp('sqlite', { env: { PROVIDER_TIMEOUT_MS: '3000' } });
    const api = numberAApi(t);
    try {
      const uc = await startCall(t, endpoints);
      t.fake.inject({ action: 'accept', times: 1, latencyMs: 1000 });
      const accepting = api('POST', `/v1/calls/${uc.call.id}/accept`);
      await eventually(async () => t.fake.countRequests({ action: 'accept' }) === 1, 3000, 'the accept on its way');
      await t.fake.userHangsUp(uc.call.externalCallId);
      await eventually(async () => (await storedCall(t, t.numberA, uc.call.id))?.status === 'MISSED', 5000, 'ended');
      const late = await accepting;
      assert.equal(late.statusCode, 409, late.body);
      await eventually(async () => t.app.media.size === 0, 3000, 'the kept session to close with the call');
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.missed', 'call.ended'],
      );
      const ended = await storedCall(t, t.numberA, uc.call.id);
      assert.equal(ended?.pendingAction, null);
      const events = (await api('GET', `/v1/calls/${uc.call.id}/events`)).json().events;
      assert.deepEqual(
        events.map((e: { source: string; type: string }) => `${e.source}:${e.type}`),
        ['provider:offer', 'provider:end', 'api:accept'],
      );
      assert.deepEqual(events.at(-1).detail, { error: 'CALL_STATE_CONFLICT' }, 'not "pre-accepted only": it ended');
    } finally {
      await t.close();
    }
  });

  test('a store that cannot take the media row: the accept is 503, nothing reaches Meta, no media is held', async () => {
    let db: FaultyDb | undefined;
    const t = await buildTestApp('sqlite', {
      wrapDb: (inner) => {
        db = faultyDb(inner);
        return db;
      },
    });
    try {
      const uc = await startCall(t, endpoints);
      assert.ok(db);
      db.failWrites = true;
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${uc.call.id}/accept`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: {},
      });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(t.fake.countRequests({ action: 'accept', call_id: uc.call.externalCallId }), 0);
      assert.equal(t.app.media.size, 0);
      assert.equal((await storedCall(t, t.numberA, uc.call.id))?.status, 'RINGING');
    } finally {
      await t.close();
    }
  });

  test('no audio from the user for MEDIA_TIMEOUT_SECONDS: FAILED by SYSTEM, media_timeout, exactly one call.ended', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_TIMEOUT_SECONDS: '2', MEDIA_WORKERS: '1' } });
    try {
      const uc = await startCall(t, endpoints);
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${uc.call.id}/accept`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: {},
      });
      assert.equal(res.statusCode, 200);
      await connectUser(t, uc);
      await uc.user.close();
      const ended = await eventually(
        async () => {
          const c = await storedCall(t, t.numberA, uc.call.id);
          return c?.status === 'FAILED' && c;
        },
        8000,
        'the media timeout',
      );
      assert.equal(ended.endedBy, 'SYSTEM');
      assert.equal(ended.endReason, 'media_timeout');
      await sleep(2500);
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: uc.call.externalCallId }), 1);
      assert.equal(t.app.media.size, 0);
      const body = (await t.app.inject({ url: '/metrics' })).body;
      assert.equal(sample(body, 'callgate_media_sessions_ended_total{reason="media_timeout"}'), 1);
      assert.equal(sample(body, 'callgate_media_sessions_ended_total{reason="call_ended"}'), null);
    } finally {
      await t.close();
    }
  });

  test('the media failing while Meta holds the accept: once accepted, the call still ends FAILED/media_timeout, once', async () => {
    // The user never connects: the 1 s media timeout fires while the accept, and its hold on the call, wait on Meta.
    const t = await buildTestApp('sqlite', { env: { MEDIA_TIMEOUT_SECONDS: '1', PROVIDER_TIMEOUT_MS: '5000' } });
    try {
      const uc = await startCall(t, endpoints);
      t.fake.inject({ action: 'accept', times: 1, latencyMs: 2500 });
      const res = await numberAApi(t)('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(res.statusCode, 200, res.body);
      const ended = await untilStatus(t, t.numberA, uc.call.id, 'FAILED', 5000);
      assert.equal(ended.endedBy, 'SYSTEM');
      assert.equal(ended.endReason, 'media_timeout');
      await eventually(async () => t.app.media.size === 0, 3000, 'the failed session closed with its call');
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: uc.call.externalCallId }), 1);
    } finally {
      await t.close();
    }
  });

  test('Meta’s terminate webhook landing before its answer to the media timeout’s hang-up: still FAILED/media_timeout', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_TIMEOUT_SECONDS: '1' } });
    try {
      const uc = await startCall(t, endpoints);
      const res = await numberAApi(t)('POST', `/v1/calls/${uc.call.id}/accept`);
      assert.equal(res.statusCode, 200, res.body);
      // Meta may tell of the end before answering the terminate that caused it (providers-meta.md R7).
      t.fake.setEmitDefaults({ beforeResponse: true });
      const ended = await eventually(
        async () => {
          const c = await storedCall(t, t.numberA, uc.call.id);
          return c?.endedAt ? c : null;
        },
        5000,
        'the media timeout',
      );
      assert.deepEqual([ended.status, ended.endedBy, ended.endReason], ['FAILED', 'SYSTEM', 'media_timeout']);
      await t.fake.flush();
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: uc.call.externalCallId }), 1);
    } finally {
      await t.close();
    }
  });

  test('the media worker dying while an outbound call rings: once the user answers, the call ends FAILED, once', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_WORKERS: '1' } });
    try {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const placed = await t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: `+${peer}` },
      });
      assert.equal(placed.statusCode, 201, placed.body);
      const call = await untilStatus(t, t.numberA, placed.json().id, 'RINGING');
      // The worker thread holding the offer dies (a crash in werift or libopus, say) before the user answers.
      const pool = (t.app.media as unknown as { pool: { slots: { terminate(): Promise<number> }[] } }).pool;
      await pool.slots[0]?.terminate();
      await t.fake.userAnswers(call.externalCallId);
      const ended = await untilStatus(t, t.numberA, call.id, 'FAILED', 5000);
      assert.equal(ended.endedBy, 'SYSTEM');
      assert.equal(ended.endReason, 'media_timeout');
      assert.equal(t.app.media.size, 0);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
    } finally {
      await t.close();
    }
  });

  for (const when of ['before', 'after'] as const) {
    test(`the caller hanging up while the engine makes the answer (${when} its media row is written): a 409, and nothing of that session is left`, async () => {
      // The media row's write is held, so the answer is still being made when the call ends. Once the row is
      // written, the session's end would report its (empty) recording: nothing may announce a file that goes.
      let gate: { reached: () => void; open: Promise<void> } | null = null;
      const held = (db: Db): Db => ({
        dialect: db.dialect,
        query: (sql, params) => db.query(sql, params),
        async execute(sql, params, opts) {
          const holds = gate !== null && sql.includes('INSERT INTO call_media');
          if (holds && when === 'before') {
            gate?.reached();
            await gate?.open;
          }
          const result = await db.execute(sql, params, opts);
          if (holds && when === 'after') {
            gate?.reached();
            await gate?.open;
          }
          return result;
        },
        transaction: (fn) => db.transaction((tx) => fn(held(tx))),
        close: () => db.close(),
      });
      const t = await buildTestApp('sqlite', { wrapDb: held });
      const api = numberAApi(t);
      try {
        // Another call's session keeps the engine's status watch running.
        const first = await startCall(t, endpoints);
        assert.equal((await api('POST', `/v1/calls/${first.call.id}/accept`)).statusCode, 200);
        const uc = await startCall(t, endpoints);
        let open = () => {};
        const reached = new Promise<void>((resolve) => {
          gate = { reached: resolve, open: new Promise<void>((r) => (open = r)) };
        });
        const accepting = api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true });
        await reached;
        gate = null;
        await t.fake.userHangsUp(uc.call.externalCallId);
        await untilStatus(t, t.numberA, uc.call.id, 'MISSED');
        await eventually(async () => t.app.media.session(uc.call.id) === undefined, 3000, 'the watch to close it');
        open();
        const res = await accepting;
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().details.status, 'MISSED');
        assert.equal(t.fake.countRequests({ call_id: uc.call.externalCallId, action: 'pre_accept' }), 0);
        assert.equal(t.app.realtime.hasCall(t.numberA.id, uc.call.id), false, 'no realtime target left for it');
        assert.equal(t.app.media.size, 1);
        const after = (await api('GET', `/v1/calls/${uc.call.id}`)).json();
        assert.equal(after.media, undefined);
        assert.equal(after.recording, undefined, 'no recording of a call that was never answered');
        assert.deepEqual(
          (await outbox(t, uc.call)).filter((e) => e.type === 'call.recording_ready'),
          [],
          'no call.recording_ready for a file that is removed',
        );
      } finally {
        await t.close();
      }
    });
  }

  test('a shutdown ends the media first: each realtime socket gets stop and a 1000 close', async () => {
    const t = await buildTestApp('sqlite');
    let closed = false;
    try {
      const api = numberAApi(t);
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`)).statusCode, 200);
      await connectUser(t, uc);
      const session = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${uc.call.id}/realtime-session`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { mode: 'listen' },
      });
      const ws = new WebSocket(onServer(t, session.json().wsUrl));
      const events: string[] = [];
      ws.on('message', (d: Buffer) => events.push(JSON.parse(d.toString()).event));
      const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
      await new Promise((r) => ws.once('open', r));
      await t.close();
      closed = true;
      assert.equal(await code, 1000);
      assert.equal(events.at(-1), 'stop');
    } finally {
      if (!closed) {
        await t.close();
      }
    }
  });
});

describe('server media on SANDBOX numbers', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('sqlite', { env: { MEDIA_WORKERS: '2' } });
  });
  after(() => t.close());

  test('a simulated caller’s 440 Hz reaches a pcm16 client, and the client’s 880 Hz reaches the simulated caller', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': t.tenantKey.key },
      payload: { provider: 'SANDBOX', name: 'Bot', sandbox: { answerAfterSeconds: 0 } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const key = created.json().apiKey.key;
    const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
    const started = await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' });
    assert.equal(started.statusCode, 201, started.body);
    const callId = started.json().call.id;
    const accepted = await api('POST', `/v1/calls/${callId}/accept`, {});
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.equal((await api('GET', `/v1/calls/${callId}`)).json().media, 'server');

    const { wsUrl } = (await api('POST', `/v1/calls/${callId}/realtime-session`, { mode: 'talk' })).json();
    const ws = new WebSocket(`${onServer(t, wsUrl)}&format=pcm16`);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer, binary) => binary && frames.push(d));
    await new Promise((r) => ws.once('open', r));
    await eventually(async () => frames.length >= 60, 8000, 'audio from the simulated caller');
    const pcm = Buffer.concat(frames.slice(-50));
    assert.equal(dominantFrequency(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2), 16_000), 440);

    const reply = tone(880, 3, 16_000);
    for (let i = 0; i < reply.length; i += 320) {
      ws.send(Buffer.from(reply.buffer, reply.byteOffset + i * 2, 640));
    }
    const heard = await eventually(
      async () => {
        const view = (await api('GET', `/v1/sandbox/calls/${callId}`)).json();
        return view.heard.frequencyHz === 880 && view;
      },
      8000,
      'the simulated caller to hear 880 Hz',
    );
    assert.equal(heard.heard.frequencyHz, 880);
    ws.close();
    await api('POST', `/v1/calls/${callId}/terminate`);
  });
  test('POST /v1/calls without an SDP: the engine offers, the simulated user answers, and its 660 Hz reaches a realtime client', async () => {
    const { api, id } = await answeredSandboxCall(t, {
      name: 'Dialer',
      audio: 'tone:660',
      to: '+15550003333',
      call: { record: true },
    });
    assert.equal((await api('GET', `/v1/calls/${id}`)).json().media, 'server');
    const { wsUrl } = (await api('POST', `/v1/calls/${id}/realtime-session`, { mode: 'listen' })).json();
    const ws = new WebSocket(`${onServer(t, wsUrl)}&format=pcm16`);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer, binary) => binary && frames.push(d));
    await new Promise((r) => ws.once('open', r));
    await eventually(async () => frames.length >= 60, 8000, 'audio from the simulated user');
    const pcm = Buffer.concat(frames.slice(-50));
    assert.equal(dominantFrequency(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2), 16_000), 660);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await api('POST', `/v1/calls/${id}/terminate`);
    assert.equal(await closed, 1000);
    const recording = await eventually(async () => {
      const r = (await api('GET', `/v1/calls/${id}`)).json().recording;
      return r?.status === 'ready' && r;
    });
    assert.ok(recording.sizeBytes > 0);
  });

  test('the simulated user presses keys: a pcm16 client gets each as a dtmf message; bad keys are a 400', async () => {
    const { api, id } = await answeredSandboxCall(t, {
      name: 'Keypad',
      audio: 'tone:440',
      to: '+15550004444',
      call: {},
    });
    const { wsUrl } = (await api('POST', `/v1/calls/${id}/realtime-session`, { mode: 'listen' })).json();
    const ws = new WebSocket(`${onServer(t, wsUrl)}&format=pcm16`);
    const texts: { event: string; dtmf?: { digit: string } }[] = [];
    ws.on('message', (d: Buffer, binary) => !binary && texts.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    await eventually(
      async () => (await api('GET', `/v1/sandbox/calls/${id}`)).json().media === 'connected',
      8000,
      'the simulated user’s media',
    );
    for (const digits of ['', '12x', '1'.repeat(33), 'a']) {
      const bad = await api('POST', `/v1/sandbox/calls/${id}/dtmf`, { digits });
      assert.equal(bad.statusCode, 400, `${digits}: ${bad.body}`);
      assert.equal(bad.json().code, 'VALIDATION_ERROR');
    }
    const pressed = await api('POST', `/v1/sandbox/calls/${id}/dtmf`, { digits: '2A0*' });
    assert.equal(pressed.statusCode, 202, pressed.body);
    assert.deepEqual(pressed.json(), { sandbox: true, callId: id, digits: '2A0*' });
    const heard = await eventually(async () => {
      const d = texts.filter((m) => m.event === 'dtmf');
      return d.length >= 4 && d;
    }, 5000);
    assert.deepEqual(
      heard.map((m) => m.dtmf?.digit),
      ['2', 'A', '0', '*'],
    );
    // Keys go out at 5 a second: a client pressing faster is refused once 64 wait, not queued without bound.
    // ('*' may still be sounding: 32 + 31 + it are 64.)
    for (const n of [32, 31]) {
      const queued = await api('POST', `/v1/sandbox/calls/${id}/dtmf`, { digits: '1'.repeat(n) });
      assert.equal(queued.statusCode, 202, queued.body);
    }
    const flooded = await api('POST', `/v1/sandbox/calls/${id}/dtmf`, { digits: '1'.repeat(32) });
    assert.equal(flooded.statusCode, 409, flooded.body);
    assert.equal(flooded.json().code, 'CALL_STATE_CONFLICT');
    assert.match(flooded.json().error, /keys to send/);
    const unknown = await api('POST', '/v1/sandbox/calls/call_doesnotexist/dtmf', { digits: '1' });
    assert.equal(unknown.statusCode, 404, unknown.body);
    // Another number's key, by our id or the provider's, finds no such call: a 404, and it presses nothing.
    const other = await t.app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': t.tenantKey.key },
      payload: { provider: 'SANDBOX', name: 'Other keypad' },
    });
    const externalCallId = (await api('GET', `/v1/calls/${id}`)).json().externalCallId;
    for (const [key, callId] of [
      [other.json().apiKey.key, id],
      [other.json().apiKey.key, encodeURIComponent(externalCallId)],
      [t.numberA.key.key, id],
    ]) {
      const elsewhere = await t.app.inject({
        method: 'POST',
        url: `/v1/sandbox/calls/${callId}/dtmf`,
        headers: { 'x-api-key': key },
        payload: { digits: '1' },
      });
      assert.equal(elsewhere.statusCode, 404, elsewhere.body);
      assert.equal(elsewhere.json().code, 'CALL_NOT_FOUND');
    }
    await api('POST', `/v1/calls/${id}/terminate`);
    await eventually(
      async () => (await api('GET', `/v1/sandbox/calls/${id}`)).json().ended,
      5000,
      'the user to hang up',
    );
    const ended = await api('POST', `/v1/sandbox/calls/${id}/dtmf`, { digits: '1' });
    assert.equal(ended.statusCode, 409, ended.body);
    assert.equal(ended.json().code, 'CALL_STATE_CONFLICT');
    ws.close();
  });
});

describe('server media: max duration', () => {
  test('maxDurationSeconds ends a server-media call: its sockets get stop and a 1000 close, the media is closed', async () => {
    const t = await buildTestApp('sqlite');
    try {
      const { api, id } = await answeredSandboxCall(t, {
        name: 'Capped',
        audio: 'tone:440',
        to: '+15550004444',
        call: { maxDurationSeconds: 2 },
      });
      const sockets = await Promise.all(
        ['twilio', 'pcm16'].map(async (format) => {
          const { wsUrl } = (await api('POST', `/v1/calls/${id}/realtime-session`, { mode: 'listen' })).json();
          const ws = new WebSocket(`${onServer(t, wsUrl)}&format=${format}`);
          const texts: { event: string }[] = [];
          ws.on('message', (d: Buffer, binary) => binary || texts.push(JSON.parse(d.toString())));
          const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
          await new Promise((r) => ws.once('open', r));
          return { format, texts, closed };
        }),
      );
      await sleep(2200);
      assert.equal((await t.sweeper.sweepOnce()).maxDurations, 1);
      for (const { format, texts, closed } of sockets) {
        assert.equal(await closed, 1000, format);
        assert.equal(texts.at(-1)?.event, 'stop', format);
      }
      const ended = (await api('GET', `/v1/calls/${id}`)).json();
      assert.equal(ended.endedBy, 'SYSTEM');
      await eventually(async () => t.app.media.size === 0, 3000, 'the session to close');
      assert.equal((await outbox(t, ended)).filter((e) => e.type === 'call.ended').length, 1, 'exactly one call.ended');
    } finally {
      await t.close();
    }
  });
});

describe('recording byte ranges', () => {
  test('one range is served as asked, clamped to the file; other forms get the whole file', async () => {
    const { byteRange } = await import('./recording.ts');
    assert.deepEqual(byteRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(byteRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(byteRange('bytes=-100', 1000), { start: 900, end: 999 });
    assert.deepEqual(byteRange('bytes=990-5000', 1000), { start: 990, end: 999 });
    assert.equal(byteRange(undefined, 1000), null);
    assert.equal(byteRange('bytes=0-1,5-9', 1000), null);
    assert.equal(byteRange('items=0-1', 1000), null);
    assert.throws(() => byteRange('bytes=1000-', 1000), /outside the recording/);
    // An end before its start is no range at all (RFC 9110 §14.1.1): ignored, the whole file.
    assert.equal(byteRange('bytes=50-10', 1000), null);
  });
});

describe('server media: a process that held a call’s media is gone', () => {
  /** A call of number A answered with an SDP whose media row names a process that never beat (recording or not). */
  async function heldByGoneProcess(t: TestApp, o: { recording: boolean }) {
    const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() });
    const call = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
    const accepted = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/accept`,
      headers: { 'x-api-key': t.numberA.key.key },
      payload: { sdp: CANNED_ANSWER_SDP },
    });
    assert.equal(accepted.statusCode, 200);
    await t.store.db.execute(
      `INSERT INTO call_media (call_id, number_id, media, media_node, recording_status, recording_path, created_at, updated_at)
      VALUES ($1, $2, 'server', 'gone-host:1:abcdef', $3, $4, $5, $5)`,
      [
        call.id,
        t.numberA.id,
        o.recording ? 'recording' : null,
        o.recording ? '/nowhere/rec.ogg' : null,
        new Date().toISOString(),
      ],
    );
    return call;
  }

  for (const kind of storeKinds()) {
    // A process with the engine off looks too: the node is the process's, not the engine's.
    for (const engine of ['on', 'off']) {
      test(`its live calls end FAILED by SYSTEM with media_lost, once, and Meta is told (${kind}, engine ${engine})`, async () => {
        const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: engine } });
        try {
          // A call answered with media held by another process (here: a row naming a node that never beat).
          const call = await heldByGoneProcess(t, { recording: false });
          const ended = await eventually(
            async () => {
              const c = await storedCall(t, t.numberA, call.id);
              return c?.status === 'FAILED' && c;
            },
            6000,
            'media_lost',
          );
          assert.equal(ended.endedBy, 'SYSTEM');
          assert.equal(ended.endReason, 'media_lost');
          await sleep(2500);
          assert.deepEqual(
            (await outbox(t, call)).map((e) => e.type),
            ['call.ringing', 'call.connected', 'call.ended'],
          );
          assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
        } finally {
          await t.close();
        }
      });
    }

    test(`a recording it never finished ends failed, once, with call.recording_ready (${kind})`, async () => {
      const t = await buildTestApp(kind);
      try {
        // The dead process was recording the call; the call then ended (here: the peer hung up).
        const call = await heldByGoneProcess(t, { recording: true });
        await t.store.db.execute(
          `UPDATE calls SET status = 'COMPLETED', ended_by = 'PEER', ended_at = $2 WHERE id = $1`,
          [call.id, new Date(Date.now() - 60_000).toISOString()],
        );
        const recording = await eventually(
          async () => {
            const got = await t.app.inject({
              url: `/v1/calls/${call.id}`,
              headers: { 'x-api-key': t.numberA.key.key },
            });
            const r = got.json().recording;
            return r?.status === 'failed' && r;
          },
          6000,
          'the recording failed',
        );
        assert.equal(recording.status, 'failed');
        await sleep(2500);
        assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.recording_ready').length, 1);
      } finally {
        await t.close();
      }
    });
  }
});

describe('server media across two API processes (PostgreSQL)', {
  skip: missing('postgres'),
}, () => {
  test('play, stop and realtime-session sent to the process that does not hold the call are carried to the one that does', async () => {
    const endpoints: AudioEndpoint[] = [];
    const t = await buildTestApp('postgres', {
      env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', PUBLIC_WS_BASE_URL: 'ws://owner.test:1', MEDIA_WORKERS: '2' },
    });
    // The second process: same database, its own engine, node name and public socket address.
    const other = await secondProcess(t, {
      ...t.config,
      media: { ...t.config.media, publicWsBaseUrl: 'ws://other.test:2' },
    });
    const files = await mediaServer({
      'tone.wav': wavFile([tone(660, 10, 16_000)], 16_000),
      'page.html': Buffer.from('<p>'),
    });
    try {
      const uc = await startCall(t, endpoints);
      const viaOwner = (method: 'POST', url: string, payload: object) =>
        t.app.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key }, payload });
      const viaOther = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
        other.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key }, ...(payload ? { payload } : {}) });
      assert.equal((await viaOwner('POST', `/v1/calls/${uc.call.id}/accept`, {})).statusCode, 200);
      await connectUser(t, uc);

      const session = await viaOther('POST', `/v1/calls/${uc.call.id}/realtime-session`, { mode: 'listen' });
      assert.equal(session.statusCode, 200, session.body);
      const { wsUrl } = session.json();
      assert.match(wsUrl, /^ws:\/\/owner\.test:1\/v1\/media\/realtime\?token=/, 'wsUrl names the owner');
      const ws = new WebSocket(wsUrl.replace('ws://owner.test:1', t.baseUrl.replace(/^http/, 'ws')));
      const media: { event: string; media?: { payload: string } }[] = [];
      ws.on('message', (d: Buffer) => media.push(JSON.parse(d.toString())));
      await new Promise((r) => ws.once('open', r));
      const frames = await eventually(async () => {
        const m = media.filter((x) => x.event === 'media');
        return m.length >= 60 && m;
      }, 6000);
      const pcm = decodeMulaw(Buffer.concat(frames.slice(-50).map((m) => Buffer.from(m.media!.payload, 'base64'))));
      assert.equal(dominantFrequency(pcm, 8000), 440);

      const bad = await viaOther('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: files.url('page.html') });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().details.reason, /unsupported media/);
      const play = await viaOther('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: files.url('tone.wav') });
      assert.equal(play.statusCode, 200, play.body);
      assert.equal(await heardAtUser(uc.user, 660), 660);
      assert.equal((await viaOther('DELETE', `/v1/calls/${uc.call.id}/play`)).statusCode, 200);
      assert.equal(await heardAtUser(uc.user, null), null);
      // A terminate through the other process too: the owner closes the media and its socket (stop, 1000).
      let closed: number | null = null;
      ws.once('close', (code) => {
        closed = code;
      });
      const end = await viaOther('POST', `/v1/calls/${uc.call.id}/terminate`);
      assert.equal(end.statusCode, 200, end.body);
      assert.equal(await eventually(async () => closed, 5000, 'the owner to close the socket'), 1000);
      assert.equal(media.at(-1)?.event, 'stop');
      await eventually(async () => t.app.media.size === 0, 5000, 'the owner to close the media');
      assert.deepEqual(
        (await outbox(t, uc.call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
    } finally {
      files.server.close();
      await Promise.all(endpoints.map((e) => e.close()));
      await other.close();
      await t.close();
    }
  });
  test('a forwarded play and stop on a sandbox call answer marked sandbox, as on the owner', async () => {
    const t = await buildTestApp('postgres', { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    const other = await secondProcess(t);
    const files = await mediaServer({ 'tone.wav': wavFile([tone(660, 2, 16_000)], 16_000) });
    try {
      const { api, id, key } = await answeredSandboxCall(t, {
        name: 'Sb',
        audio: 'silence',
        to: '+15550004444',
        call: {},
      });
      const viaOther = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
        other.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
      const owner = await api('POST', `/v1/calls/${id}/play`, { mediaUrl: files.url('tone.wav') });
      assert.equal(owner.json().sandbox, true, owner.body);
      const played = await viaOther('POST', `/v1/calls/${id}/play`, { mediaUrl: files.url('tone.wav') });
      assert.equal(played.statusCode, 200, played.body);
      assert.deepEqual(played.json(), { success: true, id, status: 'ACCEPTED', sandbox: true });
      const stopped = await viaOther('DELETE', `/v1/calls/${id}/play`);
      assert.equal(stopped.json().sandbox, true, stopped.body);
      await api('POST', `/v1/calls/${id}/terminate`);
    } finally {
      files.server.close();
      await other.close();
      await t.close();
    }
  });

  test('a forwarded play past MEDIA_PLAY_MAX_SECONDS: a 429 with Retry-After, as on the owner', async () => {
    const endpoints: AudioEndpoint[] = [];
    const t = await buildTestApp('postgres', {
      env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', MEDIA_PLAY_MAX_SECONDS: '15' },
    });
    const other = await secondProcess(t);
    const files = await mediaServer({ 'ten.wav': wavFile([tone(660, 10, 8000)], 8000) });
    try {
      const uc = await startCall(t, endpoints, 0);
      const headers = { 'x-api-key': t.numberA.key.key };
      assert.equal(
        (await t.app.inject({ method: 'POST', url: `/v1/calls/${uc.call.id}/accept`, headers, payload: {} }))
          .statusCode,
        200,
      );
      const play = () =>
        other.inject({
          method: 'POST',
          url: `/v1/calls/${uc.call.id}/play`,
          headers,
          payload: { mediaUrl: files.url('ten.wav') },
        });
      assert.equal((await play()).statusCode, 200, '10 s queued');
      assert.equal((await play()).statusCode, 200, '20 s queued: the queue was within 15 s when asked');
      const full = await play();
      assert.equal(full.statusCode, 429, full.body);
      assert.equal(full.json().code, 'RATE_LIMITED');
      assert.match(full.json().details.reason, /s of audio queued/);
      assert.ok(Number(full.headers['retry-after']) >= 1, 'Retry-After: when the queue is back under the limit');
      await t.app.inject({ method: 'POST', url: `/v1/calls/${uc.call.id}/terminate`, headers });
    } finally {
      files.server.close();
      await Promise.all(endpoints.map((e) => e.close()));
      await other.close();
      await t.close();
    }
  });

  test('the user hanging up while a forwarded play’s file downloads: 409 with the ended status, not the one before', async () => {
    const endpoints: AudioEndpoint[] = [];
    const t = await buildTestApp('postgres', { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    const other = await secondProcess(t);
    try {
      const res = await playDuringHangUp(t, endpoints, (callId, mediaUrl) =>
        other.inject({
          method: 'POST',
          url: `/v1/calls/${callId}/play`,
          headers: { 'x-api-key': t.numberA.key.key },
          payload: { mediaUrl },
        }),
      );
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.equal(res.json().details.status, 'COMPLETED');
    } finally {
      await Promise.all(endpoints.map((e) => e.close()));
      await other.close();
      await t.close();
    }
  });
});

describe('server media: a command for a call whose owning process just died (PostgreSQL)', {
  skip: missing('postgres'),
}, () => {
  const DEAD = 'dead-host:1:abcdef';

  /** An accepted call whose media row names DEAD, which no process listens for: what a killed owner leaves. */
  async function ownedByDeadNode(t: TestApp, heartbeatAt: string | null) {
    const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() });
    const call = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
    const accepted = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/accept`,
      headers: { 'x-api-key': t.numberA.key.key },
      payload: { sdp: CANNED_ANSWER_SDP },
    });
    assert.equal(accepted.statusCode, 200);
    if (heartbeatAt) {
      await t.store.db.execute('INSERT INTO media_nodes (node, heartbeat_at) VALUES ($1, $2)', [DEAD, heartbeatAt]);
    }
    await t.store.db.execute(
      `INSERT INTO call_media (call_id, number_id, media, media_node, created_at, updated_at)
        VALUES ($1, $2, 'server', $3, $4, $4)`,
      [call.id, t.numberA.id, DEAD, new Date().toISOString()],
    );
    return call;
  }

  const stopPlay = (t: TestApp, callId: string) =>
    t.app.inject({ method: 'DELETE', url: `/v1/calls/${callId}/play`, headers: { 'x-api-key': t.numberA.key.key } });

  test('killed a moment ago (heartbeat still fresh): 503 once it misses three beats, not after the 20 s wait', async () => {
    const t = await buildTestApp('postgres');
    try {
      const call = await ownedByDeadNode(t, new Date().toISOString());
      const started = performance.now();
      const res = await stopPlay(t, call.id);
      const ms = performance.now() - started;
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
      assert.equal(res.json().details.reason, 'the process holding the call stopped beating');
      assert.ok(ms > 5000 && ms < 12_000, `answered in ${Math.round(ms)} ms`);
      // A client reads it from the document: the 503 of a forwarded command is listed there.
      const contract = openApiContract((await t.app.inject({ url: '/openapi.json' })).json() as OpenApiDocument);
      assert.deepEqual(contract.problems('DELETE', `/v1/calls/${call.id}/play`, res), []);
    } finally {
      await t.close();
    }
  });

  test('shut down cleanly (its beat dropped): 409 CALL_STATE_CONFLICT at once, without sending', async () => {
    const t = await buildTestApp('postgres');
    try {
      const call = await ownedByDeadNode(t, null);
      const started = performance.now();
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/realtime-session`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { mode: 'listen' },
      });
      const ms = performance.now() - started;
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      assert.ok(ms < 1500, `answered in ${Math.round(ms)} ms`);
    } finally {
      await t.close();
    }
  });
});
