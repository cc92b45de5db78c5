import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { LEVEL, logSink } from '../../../../test/helpers/log-sink.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { dominant, sine } from '../../../../test/helpers/tone.ts';
import { AudioQueue, ENGINE_FRAME } from '../../../media/engine/audio-queue.ts';
import { decodeMulaw, encodeMulaw } from '../../../media/engine/mulaw.ts';
import { pcm16Encode } from '../../../media/engine/pcm16-framing.ts';
import { realtimeWsUrl } from '../../../media/engine/realtime-hub.ts';
import type { RealtimeTarget } from '../../../media/engine/realtime-target.ts';
import type { DtmfDigit, OpusRate } from '../../../media/rtc/index.ts';

/** A call's media as a realtime socket sees it: the test plays the caller and reads what clients queued. */
class FakeCallMedia implements RealtimeTarget {
  readonly callId: string;
  readonly talk = new AudioQueue();
  private readonly audio = new Set<(frame: Int16Array, rate: OpusRate, missed: number) => void>();
  private readonly ended = new Set<(reason: string) => void>();
  private readonly digits = new Set<(digit: DtmfDigit) => void>();
  constructor(callId: string) {
    this.callId = callId;
  }
  /** The caller is decoded at 48 kHz whatever the socket asks (another listener may want it): it resamples. */
  onCallerAudio(listener: (frame: Int16Array, rate: OpusRate, missed: number) => void) {
    this.audio.add(listener);
    return () => {
      this.audio.delete(listener);
    };
  }
  onDigit(listener: (digit: DtmfDigit) => void) {
    this.digits.add(listener);
    return () => this.digits.delete(listener);
  }
  /** The caller presses keys. */
  press(keys: string) {
    for (const key of keys) {
      for (const l of this.digits) {
        l(key as DtmfDigit);
      }
    }
  }
  get digitListeners() {
    return this.digits.size;
  }
  onEnded(listener: (reason: string) => void) {
    this.ended.add(listener);
    return () => this.ended.delete(listener);
  }
  get listeners() {
    return this.audio.size;
  }
  /**
   * The caller speaks: `seconds` of a tone, frame by frame, decoded at `rate` (48 kHz unless told); `missed` frames
   * of its clock before the first went unheard (lost packets).
   */
  say(freq: number, seconds: number, rate: OpusRate = 48_000, missed = 0) {
    const pcm = sine(freq, rate, seconds);
    const frame = rate / 50;
    for (let i = 0; i + frame <= pcm.length; i += frame) {
      for (const l of this.audio) {
        l(pcm.subarray(i, i + frame), rate, i === 0 ? missed : 0);
      }
    }
  }
  end(reason: string) {
    for (const l of [...this.ended]) {
      l(reason);
    }
  }
  /** Everything queued for the caller, as the pump would take it. */
  drain(): Int16Array {
    const frames: Int16Array[] = [];
    for (let f = this.talk.pull(); f; f = this.talk.pull()) {
      frames.push(f);
    }
    const out = new Int16Array(frames.length * ENGINE_FRAME);
    for (const [i, f] of frames.entries()) {
      out.set(f, i * ENGINE_FRAME);
    }
    return out;
  }
}

interface Client {
  ws: WebSocket;
  texts: Record<string, unknown>[];
  binaries: Buffer[];
  closed: Promise<{ code: number }>;
}

async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const client: Client = {
    ws,
    texts: [],
    binaries: [],
    closed: new Promise((resolve) => ws.on('close', (code) => resolve({ code }))),
  };
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      client.binaries.push(data);
    } else {
      client.texts.push(JSON.parse(data.toString()));
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

/** An upgrade the server answers with plain HTTP: its status and the envelope's code. */
async function refused(url: string): Promise<number> {
  const ws = new WebSocket(url);
  ws.on('error', () => {}); // the refused upgrade also surfaces as an error event
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d;
      });
      res.on('end', () => {
        const code = (JSON.parse(body) as { code: string }).code;
        const expected = res.statusCode === 401 ? 'UNAUTHORIZED' : 'VALIDATION_ERROR';
        assert.equal(code, expected);
        resolve(res.statusCode ?? 0);
      });
    });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
  });
}

let t: TestApp;
const clock = new ManualClock(Date.now());
let seq = 0;
const logs = logSink();

before(async () => {
  t = await buildTestApp('sqlite', { clock, logger: logs.logger });
});
after(() => t.close());

function openCall(): { media: FakeCallMedia; url: (mode: 'talk' | 'listen') => string; withdraw: () => void } {
  const media = new FakeCallMedia(`call_rt${++seq}`);
  const withdraw = t.app.realtime.register(t.numberA.id, media);
  const wsBase = t.baseUrl.replace(/^http/, 'ws');
  return {
    media,
    withdraw,
    url: (mode) => {
      const issued = t.app.realtime.issue(t.numberA.id, media.callId, mode);
      assert.ok(issued);
      assert.equal(issued.expiresInSeconds, 60);
      return realtimeWsUrl(wsBase, issued.token);
    },
  };
}

test('twilio framing: the client gets connected, start, then the caller’s 440 Hz as 20 ms μ-law media', async () => {
  const { media, url } = openCall();
  const c = await connect(url('talk'));
  await eventually(async () => c.texts.length >= 2, 2000, 'connected + start');
  assert.equal(c.texts[0]?.event, 'connected');
  const start = c.texts[1] as { event: string; streamSid: string; start: Record<string, unknown> };
  assert.equal(start.event, 'start');
  assert.equal(start.start.callSid, media.callId);
  assert.deepEqual(start.start.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
  media.say(440, 1);
  const frames = await eventually(async () => {
    const m = c.texts.filter((x) => x.event === 'media');
    return m.length >= 49 && m;
  });
  const chunks = frames.map((m) => (m as { media: { chunk: string } }).media.chunk);
  assert.deepEqual(
    chunks,
    chunks.map((_, i) => String(i + 1)),
    'chunks count up from 1 with no gap',
  );
  const pcm = Buffer.concat(
    frames.map((m) => Buffer.from((m as { media: { payload: string } }).media.payload, 'base64')),
  );
  for (const m of frames) {
    assert.equal(Buffer.from((m as { media: { payload: string } }).media.payload, 'base64').length, 160);
  }
  assert.equal(dominant(decodeMulaw(pcm).subarray(400), 8000, [440, 660, 880]), 440);
  c.ws.close();
  await c.closed;
  await eventually(async () => media.listeners === 0, 2000, 'unsubscribed on close');
});

test('a URL built from the token alone speaks twilio (the default), with the start fields media.md names', async () => {
  const { media } = openCall();
  const issued = t.app.realtime.issue(t.numberA.id, media.callId, 'listen');
  assert.ok(issued);
  const wsBase = t.baseUrl.replace(/^http/, 'ws');
  const c = await connect(`${wsBase}/v1/media/realtime?token=${encodeURIComponent(issued.token)}`);
  await eventually(async () => c.texts.length >= 2, 2000, 'connected + start');
  assert.deepEqual(c.texts[0], { event: 'connected', protocol: 'Call', version: '1.0.0' });
  const start = c.texts[1] as {
    event: string;
    sequenceNumber: string;
    streamSid: string;
    start: Record<string, unknown>;
  };
  assert.equal(start.event, 'start');
  assert.equal(start.sequenceNumber, '1');
  assert.match(start.streamSid, /^MZ[0-9a-f]{32}$/);
  assert.deepEqual(start.start, {
    accountSid: t.numberA.id,
    streamSid: start.streamSid,
    callSid: media.callId,
    tracks: ['inbound'],
    customParameters: { mode: 'listen' },
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
  });
  media.say(440, 0.1);
  const first = (await eventually(async () => c.texts.find((m) => m.event === 'media'))) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first).sort(), ['event', 'media', 'sequenceNumber', 'streamSid']);
  assert.equal(first.streamSid, start.streamSid);
  assert.deepEqual(
    { ...(first.media as object), payload: undefined },
    {
      track: 'inbound',
      chunk: '1',
      timestamp: '0',
      payload: undefined,
    },
  );
  assert.equal(c.binaries.length, 0, 'no binary frames in the twilio framing');
  c.ws.close();
});

test('twilio: each key the caller presses is a dtmf message as Twilio sends it, in order with the media', async () => {
  const { media, url } = openCall();
  const c = await connect(url('listen'));
  await eventually(async () => c.texts.length >= 2, 2000, 'connected + start');
  const start = c.texts[1] as { streamSid: string };
  media.say(440, 0.1);
  media.press('4#');
  media.say(440, 0.1);
  const dtmf = await eventually(async () => {
    const d = c.texts.filter((m) => m.event === 'dtmf');
    return d.length >= 2 && d;
  });
  const first = c.texts.indexOf(dtmf[0] as Record<string, unknown>);
  assert.deepEqual(dtmf[0], {
    event: 'dtmf',
    streamSid: start.streamSid,
    sequenceNumber: String(first),
    dtmf: { track: 'inbound_track', digit: '4' },
  });
  assert.deepEqual((dtmf[1] as { dtmf: unknown }).dtmf, { track: 'inbound_track', digit: '#' });
  const sequence = c.texts.slice(1).map((m) => Number(m.sequenceNumber));
  assert.deepEqual(
    sequence,
    sequence.map((_, i) => i + 1),
    'dtmf messages share the stream’s sequence numbers',
  );
  assert.ok(
    c.texts.slice(2, first).every((m) => m.event === 'media'),
    'after the audio before it',
  );
  c.ws.close();
  await c.closed;
  await eventually(async () => media.digitListeners === 0, 2000, 'unsubscribed on close');
});

test('pcm16: a key the caller presses is a dtmf text message', async () => {
  const { media, url } = openCall();
  const c = await connect(`${url('talk')}&format=pcm16`);
  await eventually(async () => c.texts.length >= 1, 2000, 'start');
  media.press('*');
  const dtmf = await eventually(async () => c.texts.find((m) => m.event === 'dtmf'));
  assert.deepEqual(dtmf, { event: 'dtmf', dtmf: { digit: '*' } });
  c.ws.close();
});

test('talk: the client’s 880 Hz reaches the caller at 880 Hz, and its mark comes back once that audio is played', async () => {
  const { media, url } = openCall();
  const c = await connect(url('talk'));
  const tone = encodeMulaw(sine(880, 8000, 0.5));
  for (let i = 0; i < tone.length; i += 160) {
    c.ws.send(
      JSON.stringify({
        event: 'media',
        streamSid: 'x',
        media: { payload: Buffer.from(tone.subarray(i, i + 160)).toString('base64') },
      }),
    );
  }
  c.ws.send(JSON.stringify({ event: 'mark', streamSid: 'x', mark: { name: 'said-it' } }));
  await eventually(async () => media.talk.queuedSeconds > 0.45, 2000, 'audio queued');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.texts.filter((m) => m.event === 'mark').length, 0, 'no mark before the audio is played');
  const heard = media.drain();
  assert.equal(dominant(heard.subarray(4800), 48_000, [440, 660, 880]), 880);
  const mark = await eventually(async () => c.texts.find((m) => m.event === 'mark'));
  assert.deepEqual((mark as { mark: unknown }).mark, { name: 'said-it' });
  c.ws.close();
});

test('clear drops the queued audio and answers every pending mark', async () => {
  const { media, url } = openCall();
  const c = await connect(url('talk'));
  const payload = Buffer.from(encodeMulaw(sine(880, 8000, 1))).toString('base64');
  c.ws.send(JSON.stringify({ event: 'media', media: { payload } }));
  c.ws.send(JSON.stringify({ event: 'mark', mark: { name: 'a' } }));
  c.ws.send(JSON.stringify({ event: 'clear' }));
  const mark = await eventually(async () => c.texts.find((m) => m.event === 'mark'));
  assert.deepEqual((mark as { mark: unknown }).mark, { name: 'a' });
  assert.equal(media.talk.queuedSeconds, 0);
  assert.equal(media.talk.pull(), null);
  c.ws.close();
});

test('a client flooding marks gets at most 1,000 pending at once: the rest are ignored, memory stays bounded', async () => {
  const { media, url } = openCall();
  const c = await connect(url('talk'));
  const payload = Buffer.from(encodeMulaw(sine(880, 8000, 1))).toString('base64');
  c.ws.send(JSON.stringify({ event: 'media', media: { payload } }));
  for (let i = 0; i < 1500; i++) {
    c.ws.send(JSON.stringify({ event: 'mark', mark: { name: `m${i}` } }));
  }
  c.ws.send(JSON.stringify({ event: 'clear' }));
  await eventually(async () => c.texts.filter((m) => m.event === 'mark').length >= 1000);
  await new Promise((r) => setTimeout(r, 100));
  const marks = c.texts.filter((m) => m.event === 'mark') as { mark: { name: string } }[];
  assert.equal(marks.length, 1000);
  assert.deepEqual(marks.at(-1)?.mark, { name: 'm999' }, 'the first thousand, in order');
  assert.equal(media.talk.queuedSeconds, 0);
  c.ws.close();
});

test('a client that stops reading loses frames past 512 KiB buffered; a reading client on the call loses none', async () => {
  const { media, url } = openCall();
  const stalled = await connect(`${url('listen')}&format=pcm16`);
  const reading = await connect(`${url('listen')}&format=pcm16`);
  stalled.ws.pause();
  const droppedBefore = t.app.realtime.tally.framesDropped;
  // The caller speaks a second at a time, with turns between for the reading client; the stalled one's kernel
  // buffers fill first, then the server's own 512 KiB.
  let seconds = 0;
  while (t.app.realtime.tally.framesDropped === droppedBefore && seconds < 1200) {
    media.say(440, 1);
    seconds++;
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(t.app.realtime.tally.framesDropped > droppedBefore, `nothing dropped after ${seconds} s of audio`);
  // Bounded: once full, the stalled client is sent nothing more (10 s: 500 frames, one the resampler still holds).
  const full = t.app.realtime.tally.framesDropped;
  media.say(440, 10);
  assert.ok(t.app.realtime.tally.framesDropped - full >= 499, `${t.app.realtime.tally.framesDropped - full} dropped`);
  // The other client read all along: it got every frame (but the one the resampler still holds).
  await eventually(
    async () => reading.binaries.length >= (seconds + 10) * 50 - 1,
    10_000,
    'every frame at the reading client',
  );
  // Keys too: the full client is sent none, the reading one every one.
  media.press('5'.repeat(200));
  await eventually(
    async () => reading.texts.filter((m) => m.event === 'dtmf').length === 200,
    10_000,
    'every key at the reading client',
  );
  stalled.ws.resume();
  let seen = -1;
  await eventually(
    async () => {
      const now = stalled.binaries.length;
      const settled = now === seen;
      seen = now;
      await new Promise((r) => setTimeout(r, 300));
      return settled;
    },
    20_000,
    'the stalled client to read what was buffered for it',
  );
  assert.equal(stalled.texts.filter((m) => m.event === 'dtmf').length, 0, 'no key was buffered for it');
  stalled.ws.terminate();
  reading.ws.close();
});

test('twilio: a client that stopped reading, once it reads again, gets timestamps counting the frames it lost', async () => {
  const { media, url } = openCall();
  const c = await connect(url('listen'));
  c.ws.pause();
  const droppedBefore = t.app.realtime.tally.framesDropped;
  let seconds = 0;
  while (t.app.realtime.tally.framesDropped === droppedBefore && seconds < 2400) {
    media.say(440, 1);
    seconds++;
    await new Promise((r) => setImmediate(r));
  }
  const dropped = t.app.realtime.tally.framesDropped - droppedBefore;
  assert.ok(dropped > 0, `nothing dropped after ${seconds} s of audio`);
  c.ws.resume();
  // Every frame the caller made (but the one the resampler still holds) was sent or dropped.
  const received = () =>
    c.texts.filter((m) => m.event === 'media') as { media: { chunk: string; timestamp: string } }[];
  await eventually(async () => received().length === seconds * 50 - 1 - dropped, 20_000, 'every frame sent arrived');
  // The caller goes on speaking to a client that reads again.
  media.say(440, 1);
  const frames = (seconds + 1) * 50 - 1;
  await eventually(async () => received().length === frames - dropped, 20_000, 'the frames after it arrived');
  const last = received().at(-1);
  // `chunk` counts the messages; `timestamp` is where the frame is in the stream: the lost frames count there.
  assert.equal(last?.media.chunk, String(frames - dropped));
  assert.equal(last?.media.timestamp, String((frames - 1) * 20));
  c.ws.close();
});

test('twilio: frames of the caller lost on the way are sent as silence, so the stream keeps the call’s time', async () => {
  const { media, url } = openCall();
  const c = await connect(url('listen'));
  media.say(440, 0.2);
  media.say(440, 0.8, 48_000, 10); // 10 packets (200 ms) lost before this second's first
  const received = () =>
    c.texts.filter((m) => m.event === 'media') as { media: { chunk: string; timestamp: string; payload: string } }[];
  // 1.2 s of the call's time: 60 frames, but the one the resampler still holds.
  await eventually(async () => received().length === 59, 5000, 'a frame for every 20 ms of the call');
  const last = received().at(-1);
  assert.deepEqual([last?.media.chunk, last?.media.timestamp], ['59', String(58 * 20)]);
  const pcm = (from: number, to: number) =>
    decodeMulaw(
      Buffer.concat(
        received()
          .slice(from, to)
          .map((m) => Buffer.from(m.media.payload, 'base64')),
      ),
    );
  assert.equal(dominant(pcm(1, 9), 8000, [440, 880]), 440);
  const gap = pcm(11, 19);
  assert.ok(
    gap.every((x) => Math.abs(x) < 64),
    'silence where the packets were lost',
  );
  assert.equal(dominant(pcm(21, 58), 8000, [440, 880]), 440);
  c.ws.close();
});

test('a client that answers no ping (its host gone) is dropped; one that answers stays, silent as it is', async () => {
  const { media, url } = openCall();
  // The sockets of the tests before have closed (the server side may learn it a moment after their clients).
  await eventually(async () => t.app.realtime.tally.open === 0, 5000, 'no socket left open');
  t.app.realtime.heartbeatMs = 100;
  try {
    const gone = new WebSocket(url('listen'), { autoPong: false });
    await new Promise((resolve) => gone.once('open', resolve));
    const alive = await connect(url('listen'));
    await eventually(async () => gone.readyState === WebSocket.CLOSED, 5000, 'the silent client dropped');
    await eventually(async () => t.app.realtime.tally.open === 1, 5000, 'the dropped socket no longer counted');
    // Ten more heartbeats: the client that answers pings (as ws and browsers do by themselves) is kept.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(alive.ws.readyState, WebSocket.OPEN);
    media.say(440, 0.2);
    await eventually(async () => alive.texts.some((m) => m.event === 'media'), 5000, 'audio still reaches it');
    alive.ws.close();
  } finally {
    t.app.realtime.heartbeatMs = 20_000;
  }
});

test('listen is receive-only: the client hears the caller, but its audio never reaches the call', async () => {
  const { media, url } = openCall();
  const c = await connect(url('listen'));
  const payload = Buffer.from(encodeMulaw(sine(880, 8000, 0.2))).toString('base64');
  c.ws.send(JSON.stringify({ event: 'media', media: { payload } }));
  c.ws.send(JSON.stringify({ event: 'mark', mark: { name: 'a' } }));
  media.say(440, 0.2);
  await eventually(async () => c.texts.filter((m) => m.event === 'media').length >= 9);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(media.talk.queuedSeconds, 0);
  assert.equal(c.texts.filter((m) => m.event === 'mark').length, 0);
  c.ws.close();
});

test('pcm16 framing (appended format=pcm16): JSON start, 640-byte binary frames both ways', async () => {
  const { media, url } = openCall();
  const c = await connect(`${url('talk')}&format=pcm16`);
  await eventually(async () => c.texts.length >= 1);
  assert.deepEqual(c.texts[0]?.mediaFormat, {
    encoding: 'audio/l16',
    sampleRate: 16_000,
    channels: 1,
    frameBytes: 640,
  });
  media.say(440, 0.5);
  await eventually(async () => c.binaries.length >= 24);
  assert.ok(c.binaries.every((b) => b.length === 640));
  const heardByClient = new Int16Array(Buffer.concat(c.binaries).buffer.slice(0));
  assert.equal(dominant(heardByClient.subarray(320), 16_000, [440, 660, 880]), 440);
  const tone = sine(880, 16_000, 0.4);
  for (let i = 0; i < tone.length; i += 320) {
    c.ws.send(pcm16Encode(tone.subarray(i, i + 320)));
  }
  await eventually(async () => media.talk.queuedSeconds > 0.35);
  assert.equal(dominant(media.drain().subarray(4800), 48_000, [440, 660, 880]), 880);
  c.ws.close();
});

test('a twilio and a pcm16 client on one call: 16 kHz frames, then 8 kHz ones, reach each at its own rate', async () => {
  const { media, url } = openCall();
  const twilio = await connect(url('listen'));
  const pcm16 = await connect(`${url('listen')}&format=pcm16`);
  await eventually(async () => twilio.texts.length >= 2 && pcm16.texts.length >= 1, 2000, 'both started');
  const mulaw = () =>
    twilio.texts
      .filter((x) => x.event === 'media')
      .map((m) => Buffer.from((m as { media: { payload: string } }).media.payload, 'base64'));
  // Decoded at 16 kHz while the pcm16 client listens: the twilio client's frames are resampled, the other's not.
  media.say(440, 1, 16_000);
  await eventually(async () => mulaw().length >= 48 && pcm16.binaries.length >= 50, 2000, 'the 16 kHz second');
  assert.equal(pcm16.binaries.length, 50, 'each 16 kHz frame as it came');
  const first = mulaw().length;
  // The endpoint switched to 8 kHz (the pcm16 client left, say): now the twilio frames pass as they are.
  media.say(660, 1, 8000);
  await eventually(async () => mulaw().length >= first + 50, 2000, 'the 8 kHz second');
  const frames = mulaw();
  assert.ok(frames.every((f) => f.length === 160));
  assert.equal(frames.length - first, 50, 'no frame lost or made up at the switch');
  const heard = decodeMulaw(Buffer.concat(frames));
  assert.equal(dominant(heard.subarray(800, 7200), 8000, [440, 660, 880]), 440);
  assert.equal(dominant(heard.subarray(first * 160 + 800), 8000, [440, 660, 880]), 660);
  await eventually(async () => pcm16.binaries.length >= 98, 2000, 'the 8 kHz second, resampled up');
  const wide = (from: number, to?: number) => {
    const b = Buffer.concat(pcm16.binaries.slice(from, to));
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  assert.equal(dominant(wide(1, 50), 16_000, [440, 660, 880]), 440);
  assert.equal(dominant(wide(52), 16_000, [440, 660, 880]), 660);
  twilio.ws.close();
  pcm16.ws.close();
  await eventually(async () => media.listeners === 0, 2000, 'unsubscribed on close');
});

test('when the call’s media ends, the client gets stop and a 1000 close', async () => {
  const { media, url } = openCall();
  const c = await connect(url('talk'));
  await eventually(async () => c.texts.length >= 2);
  media.end('call_ended');
  const { code } = await c.closed;
  assert.equal(code, 1000);
  assert.equal(c.texts.at(-1)?.event, 'stop');
  assert.equal(media.listeners, 0);
});

test('a token opens one socket only; unknown, expired and withdrawn-call tokens get 401 before any upgrade', async () => {
  const { url, withdraw } = openCall();
  const once = url('talk');
  const c = await connect(once);
  assert.equal(await refused(once), 401);
  c.ws.close();
  const wsBase = t.baseUrl.replace(/^http/, 'ws');
  assert.equal(await refused(realtimeWsUrl(wsBase, 'rt_unknown')), 401);
  const late = url('listen');
  clock.advance(61_000);
  assert.equal(await refused(late), 401);
  const withdrawn = url('listen');
  withdraw();
  assert.equal(await refused(withdrawn), 401);
  assert.equal(await refused(`${wsBase}/v1/media/realtime`), 400);
  assert.equal(await refused(`${wsBase}/v1/media/realtime?token=x&format=mp3`), 400);
});

test('a plain GET of a wsUrl is a 400 and leaves its token for the WebSocket', async () => {
  const { url } = openCall();
  const wsUrl = url('talk');
  const res = await fetch(wsUrl.replace(/^ws/, 'http'));
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { details: { reason: string } }).details.reason, /WebSocket/);
  const c = await connect(wsUrl);
  c.ws.close();
});

test('a handshake the WebSocket server would refuse is a 400 in the envelope and leaves the token valid', async () => {
  const { url } = openCall();
  const wsUrl = url('talk');
  const upgrade = { connection: 'Upgrade', upgrade: 'websocket' };
  for (const headers of [
    { ...upgrade, 'sec-websocket-version': '99', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    { ...upgrade, 'sec-websocket-version': '13' },
    { ...upgrade, 'sec-websocket-version': '13', 'sec-websocket-key': 'short' },
  ]) {
    const res = await t.app.inject({ url: wsUrl.slice(wsUrl.indexOf('/v1/')), headers });
    assert.equal(res.statusCode, 400, JSON.stringify(headers));
    assert.equal(res.json().code, 'VALIDATION_ERROR');
    assert.match(res.json().details.reason, /Sec-WebSocket/);
  }
  const c = await connect(wsUrl);
  c.ws.close();
});

/** One upgrade request written by hand (what a WebSocket client library would not send): status and body. */
function rawUpgrade(path: string, headers: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const port = Number(new URL(t.baseUrl).port);
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, split));
      if (split !== -1 && (!length || method === 'HEAD' || data.length >= split + 4 + Number(length[1]))) {
        socket.destroy();
        resolve({ status: Number(data.slice(9, 12)), body: data.slice(split + 4) });
      }
    });
    socket.on('error', reject);
  });
}

const HANDSHAKE = 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

test('an Upgrade header without Connection: Upgrade (no upgrade to Node) is a 400 envelope and leaves the token', async () => {
  const { url } = openCall();
  const wsUrl = url('talk');
  const path = wsUrl.slice(wsUrl.indexOf('/v1/'));
  const res = await rawUpgrade(path, `Upgrade: websocket\r\n${HANDSHAKE}`);
  assert.equal(res.status, 400, res.body);
  assert.equal(JSON.parse(res.body).code, 'VALIDATION_ERROR');
  assert.match(JSON.parse(res.body).details.reason, /Connection: Upgrade/);
  const c = await connect(wsUrl);
  c.ws.close();
});

test('a Sec-WebSocket-Protocol the WebSocket server would refuse is a 400 envelope and leaves the token', async () => {
  const { url } = openCall();
  const wsUrl = url('talk');
  const path = wsUrl.slice(wsUrl.indexOf('/v1/'));
  const upgrade = `Upgrade: websocket\r\nConnection: Upgrade\r\n${HANDSHAKE}`;
  for (const protocols of ['a, a', ',', 'a,,b', 'a b', 'a;b', '"a"', 'a,']) {
    const res = await rawUpgrade(path, `${upgrade}Sec-WebSocket-Protocol: ${protocols}\r\n`);
    assert.equal(res.status, 400, `${protocols}: ${res.body}`);
    assert.equal(JSON.parse(res.body).code, 'VALIDATION_ERROR', protocols);
    assert.match(JSON.parse(res.body).details.reason, /Sec-WebSocket-Protocol/);
  }
  // The token survived every refusal, and a well-formed list is no reason to refuse: the socket opens.
  const ws = new WebSocket(wsUrl, ['audio.v1', 'b']);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.close();
});

test('an upgrade refused before routing (no Host, a URL that does not decode) is answered and its socket closed', async () => {
  const port = Number(new URL(t.baseUrl).port);
  const upgrade = `Upgrade: websocket\r\nConnection: Upgrade\r\n${HANDSHAKE}`;
  for (const request of [
    `GET /v1/media/realtime?token=x HTTP/1.1\r\n${upgrade}\r\n`,
    `GET /v1/%E0%A4%A HTTP/1.1\r\nHost: localhost\r\n${upgrade}\r\n`,
    `GET /v1/calls/${'a'.repeat(2000)} HTTP/1.1\r\nHost: localhost\r\n${upgrade}\r\n`,
  ]) {
    // The client keeps its side open: only the server can end the connection. Left open, such sockets pile up
    // (no HTTP timeout watches an upgraded socket) and hold the server's close until the shutdown deadline.
    const socket = netConnect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(request);
    await eventually(async () => data.includes('\r\n\r\n') && data, 3000, 'the answer');
    assert.match(data, /^HTTP\/1\.1 400 /, request.slice(0, 60));
    assert.equal(JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)).code, 'VALIDATION_ERROR');
    let serverClosed = false;
    void closed.then(() => {
      serverClosed = true;
    });
    await eventually(async () => serverClosed, 3000, `the server to close the socket of ${request.slice(0, 40)}`);
  }
});

test('a HEAD asking for an upgrade (it cannot have one) is a 400 and leaves the token', async () => {
  const { url } = openCall();
  const wsUrl = url('talk');
  const path = wsUrl.slice(wsUrl.indexOf('/v1/'));
  const res = await rawUpgrade(path, `Upgrade: websocket\r\nConnection: Upgrade\r\n${HANDSHAKE}`, 'HEAD');
  assert.equal(res.status, 400);
  const c = await connect(wsUrl);
  c.ws.close();
});

test('a client frame over 1 MiB closes its socket with 1009, logged as the client’s doing, not as an error', async () => {
  const { url } = openCall();
  const c = await connect(url('talk'));
  c.ws.send('x'.repeat(1024 * 1024 + 1));
  assert.equal((await c.closed).code, 1009);
  const line = await eventually(async () => logs.find(/client protocol error/)[0]);
  assert.equal(line.level, LEVEL.info);
  assert.equal(line.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.deepEqual(
    logs.lines.filter((l) => l.level >= LEVEL.error).map((l) => l.msg),
    [],
  );
});

test('a WebSocket dialled to an HTTP route gets a 400 saying so, not 101 and a close', async () => {
  const wsBase = t.baseUrl.replace(/^http/, 'ws');
  for (const path of ['/healthz', '/v1/calls']) {
    const ws = new WebSocket(`${wsBase}${path}`, { headers: { 'x-api-key': t.numberA.key.key } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error(`${path} upgraded`)));
      ws.on('error', () => undefined);
    });
    assert.equal(status, 400, path);
  }
  // A plain request that merely carries the header is answered as before.
  const plain = await t.app.inject({ url: '/healthz', headers: { upgrade: 'websocket', connection: 'close' } });
  assert.equal(plain.statusCode, 200);
});

test('tokens are only issued for calls of the asking number whose media runs here', () => {
  const { media } = openCall();
  assert.equal(t.app.realtime.issue(t.numberB.id, media.callId, 'talk'), null);
  assert.equal(t.app.realtime.issue(t.numberA.id, 'call_elsewhere', 'talk'), null);
});
