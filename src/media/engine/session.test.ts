// The session against a real WebRTC peer on 127.0.0.1 playing the WhatsApp user: tones each way, play, recording,
// and the media timeout. No mocks on the media path.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { assertPitchesNear } from '../../../test/helpers/server-media.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { wavFile } from '../../../test/helpers/wav.ts';
import { dominantFrequency } from '../audio/detect.ts';
import { tone } from '../audio/tone.ts';
import { AudioEndpoint, createPeerFactory, LOOPBACK_ICE, toneSource } from '../rtc/index.ts';
import { ENGINE_FRAME } from './audio-queue.ts';
import { CallRecorder } from './call-recorder.ts';
import { decodeMedia } from './decode-media.ts';
import { MediaSession } from './session.ts';

const factory = createPeerFactory(LOOPBACK_ICE);
const dir = mkdtempSync(join(tmpdir(), 'callgate-session-'));
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  await Promise.all(closers.map((c) => c()));
  rmSync(dir, { recursive: true, force: true });
});

async function callWithUser(
  opts: { record?: string; mediaTimeoutMs?: number; onFailure?: () => void; endpoint?: AudioEndpoint } = {},
) {
  const user = new AudioEndpoint(factory, { source: toneSource(440) });
  const session = new MediaSession({
    callId: 'call_s1',
    numberId: 'num_1',
    endpoint: opts.endpoint ?? new AudioEndpoint(factory),
    recorder: opts.record ? new CallRecorder(opts.record) : null,
    ...(opts.mediaTimeoutMs ? { mediaTimeoutMs: opts.mediaTimeoutMs } : {}),
    ...(opts.onFailure ? { onFailure: opts.onFailure } : {}),
  });
  closers.push(
    () => user.close(),
    () => session.close('shutdown'),
  );
  const answer = await session.answer(await user.createOffer());
  await user.applyAnswer(answer);
  await user.connected();
  return { user, session };
}

/** Collects what realtime listeners get from the caller. */
function listen(session: MediaSession) {
  const frames: Int16Array[] = [];
  session.onCallerAudio((f) => frames.push(f), 48_000);
  return {
    frames,
    lastSecond(): Int16Array {
      const recent = frames.slice(-50);
      const out = new Int16Array(recent.length * ENGINE_FRAME);
      for (const [i, f] of recent.entries()) {
        out.set(f, i * ENGINE_FRAME);
      }
      return out;
    },
  };
}

test('with nobody listening the caller’s audio is not decoded, yet keeps the media alive; a listener gets it', async () => {
  const endpoint = new AudioEndpoint(factory, { monitor: false });
  let failed = false;
  const { session } = await callWithUser({ endpoint, mediaTimeoutMs: 600, onFailure: () => (failed = true) });
  await waitFor(
    () => endpoint.stats().packetsReceived,
    (n) => n >= 50,
  );
  await sleep(800);
  assert.equal(endpoint.framesDecoded, 0, 'no Opus decoding for a call nobody listens to');
  assert.equal(failed, false, 'packets arriving undecoded still count as audio from the peer');
  assert.ok(session.firstPeerAudioAt !== null);
  const heard = listen(session);
  await waitFor(
    () => heard.frames.length,
    (n) => n >= 50,
  );
  assert.equal(dominantFrequency(heard.lastSecond(), 48_000), 440);
  assert.ok(endpoint.framesDecoded >= 50);
});

test('a listener that wants 8 kHz gets the caller decoded at 8 kHz; one that wants 48 kHz lifts the rate for both', async () => {
  const endpoint = new AudioEndpoint(factory, { monitor: false });
  const { session } = await callWithUser({ endpoint });
  const narrow: { frame: Int16Array; rate: number }[] = [];
  session.onCallerAudio((frame, rate) => narrow.push({ frame, rate }), 8000);
  await waitFor(
    () => narrow.length,
    (n) => n >= 50,
  );
  const recent = narrow.slice(-50);
  assert.deepEqual(new Set(recent.map((f) => `${f.rate}/${f.frame.length}`)), new Set(['8000/160']));
  const joined = new Int16Array(50 * 160);
  for (const [i, f] of recent.entries()) {
    joined.set(f.frame, i * 160);
  }
  assert.equal(dominantFrequency(joined, 8000), 440, 'the caller’s tone, straight from the decoder at 8 kHz');
  const wide = listen(session);
  await waitFor(
    () => wide.frames.length,
    (n) => n >= 10,
  );
  const last = narrow.at(-1);
  assert.equal(last?.rate, 48_000, 'the 8 kHz listener now gets the 48 kHz frames, with their rate');
  assert.equal(last?.frame.length, ENGINE_FRAME);
});

test('a listener leaving from inside its callback lowers the rate without handing the others that frame twice', async () => {
  const endpoint = new AudioEndpoint(factory, { monitor: false });
  const { session } = await callWithUser({ endpoint });
  let stopWide = () => {};
  let wideFrames = 0;
  stopWide = session.onCallerAudio(() => {
    wideFrames += 1;
    stopWide();
  }, 16_000);
  const narrow: { frame: Int16Array; rate: number }[] = [];
  session.onCallerAudio((frame, rate) => narrow.push({ frame, rate }), 8000);
  await waitFor(
    () => narrow.length,
    (n) => n >= 20,
  );
  assert.equal(wideFrames, 1);
  const repeated = narrow.filter((f, i) => i > 0 && f.frame === narrow[i - 1]?.frame);
  assert.equal(repeated.length, 0, 'each decoded frame reaches a listener once');
  assert.equal(narrow[0]?.rate, 16_000);
  assert.equal(narrow.at(-1)?.rate, 8000, 'decoded at 8 kHz once the 16 kHz listener left');
});

test('the caller’s 440 Hz reaches realtime listeners, and talk audio (880 Hz) reaches the caller', async () => {
  const { user, session } = await callWithUser();
  const heard = listen(session);
  await waitFor(
    () => heard.frames.length,
    (n) => n >= 50,
  );
  assert.equal(dominantFrequency(heard.lastSecond(), 48_000), 440);
  session.talk.push(tone(880, 2));
  const atUser = await waitFor(
    () => user.heard().frequencyHz,
    (f) => f === 880,
  );
  assert.equal(atUser, 880);
});

test('talk at 8 kHz is encoded at 8 kHz and heard whole; a play lifts the call to 48 kHz for good', async () => {
  const endpoint = new AudioEndpoint(factory);
  const { user, session } = await callWithUser({ endpoint });
  const received: Int16Array[] = [];
  user.onAudio((f) => received.push(f));
  /** Talks a second of 880 Hz in 20 ms pushes at 8 kHz; returns how long the caller heard it, at what encoder rate. */
  const talkASecond = async () => {
    received.length = 0;
    const talk = tone(880, 1, 8000);
    for (let at = 0; at < talk.length; at += 160) {
      session.talk.push(talk.subarray(at, at + 160), 8000);
    }
    await sleep(1500);
    const heard = received.filter((f) => dominantFrequency(f, 48_000) === 880).length * 0.02;
    assert.ok(Math.abs(heard - 1) <= 0.05, `heard ${heard} s of 1 s`);
    return endpoint.stats().encoderRate;
  };
  assert.equal(await talkASecond(), 8000, 'neither resampled to 48 kHz nor encoded at it');
  session.enqueuePlay(Promise.resolve(tone(660, 0.5)));
  await waitFor(
    () => user.heard().frequencyHz,
    (f) => f === 660,
  );
  assert.equal(endpoint.stats().encoderRate, 48_000);
  await sleep(700);
  assert.equal(await talkASecond(), 48_000, 'the call stays at 48 kHz after its play');
});

test('play: a 660 Hz WAV reaches the caller at 660 Hz for its duration, then silence', async () => {
  const { user, session } = await callWithUser();
  const received: Int16Array[] = [];
  user.onAudio((f) => received.push(f));
  const decoded = await decodeMedia(wavFile([tone(660, 1, 16_000)], 16_000), { maxSeconds: 60 });
  received.length = 0;
  session.enqueuePlay(Promise.resolve(decoded.pcm));
  await sleep(1800);
  // Frames carrying the tone: their count is the played duration, their pitch the file's.
  const loud = received.filter((f) => dominantFrequency(f, 48_000) === 660);
  const seconds = (loud.length * ENGINE_FRAME) / 48_000;
  assert.ok(Math.abs(seconds - 1) <= 0.05, `played ${seconds} s`);
  assert.equal(dominantFrequency(received.at(-1) ?? new Int16Array(0), 48_000), null, 'silence after the file');
});

test('play keeps request order even when an earlier download finishes last; stop empties the queue', async () => {
  const { user, session } = await callWithUser();
  let release: (pcm: Int16Array) => void = () => {};
  session.enqueuePlay(new Promise((r) => (release = r)));
  session.enqueuePlay(Promise.resolve(tone(880, 3)));
  await sleep(300);
  assert.equal(user.heard().frequencyHz, null, 'the second file waits for the first');
  release(tone(660, 3));
  assert.equal(
    await waitFor(
      () => user.heard().frequencyHz,
      (f) => f === 660,
    ),
    660,
  );
  session.stopPlay();
  assert.equal(
    await waitFor(
      () => user.heard().frequencyHz,
      (f) => f === null,
    ),
    null,
  );
});

test('the recording is stereo Ogg/Opus: the caller’s 440 Hz on the left, the business’s 660 Hz on the right', async () => {
  const path = join(dir, 'call.ogg');
  const { session } = await callWithUser({ record: path });
  session.enqueuePlay(Promise.resolve(tone(660, 2)));
  await sleep(2200);
  const result = await session.close('call_ended');
  assert.ok(result);
  assert.ok(result.durationSeconds >= 2, `duration ${result.durationSeconds}`);
  const bytes = readFileSync(path);
  assert.equal(bytes.length, result.sizeBytes);
  const decoder = new OggOpusDecoder();
  await decoder.ready;
  const audio = await decoder.decodeFile(bytes);
  decoder.free();
  assert.equal(audio.channelData.length, 2);
  const toPcm = (ch: Float32Array) => Int16Array.from(ch.subarray(48_000 * 0.5, 48_000 * 1.5), (x) => x * 32767);
  // Within 1 %: a stall of a loaded machine inside that second is recorded as the silence it was (frames skipped).
  assertPitchesNear(
    [dominantFrequency(toPcm(audio.channelData[0]!), 48_000), dominantFrequency(toPcm(audio.channelData[1]!), 48_000)],
    [440, 660],
  );
});

test('when the peer goes silent (gone), the media fails once with media_timeout and sockets are told', async () => {
  let failures = 0;
  const { user, session } = await callWithUser({ mediaTimeoutMs: 1500, onFailure: () => failures++ });
  const ended: string[] = [];
  session.onEnded((r) => ended.push(r));
  await user.close();
  await waitFor(
    () => ended.length,
    (n) => n > 0,
    5000,
  );
  assert.deepEqual(ended, ['media_timeout']);
  assert.equal(failures, 1);
  await sleep(1600);
  assert.equal(failures, 1, 'exactly once');
});

test('frames the clock skips after a stall are in the recording: its length is the call’s, not the frames sent', async () => {
  const paced: { tick: ((index: number) => void) | null } = { tick: null };
  const clock = {
    start(fn: (index: number) => void) {
      paced.tick = fn;
      return () => {
        paced.tick = null;
      };
    },
  };
  const path = join(dir, 'stalled.ogg');
  const { session } = await callWithUser({
    record: path,
    endpoint: new AudioEndpoint(factory, { monitor: false, clock }),
  });
  await waitFor(
    () => paced.tick,
    (t) => t !== null,
  );
  session.enqueuePlay(Promise.resolve(tone(660, 10)));
  await sleep(10); // the play's audio is in the queue
  // 100 frames paced, a stall of 150 frames the clock skips (as it does past 5 owed), then 100 more: 7 s of call.
  for (const index of [...Array(100).keys(), ...Array.from({ length: 100 }, (_, i) => 250 + i)]) {
    paced.tick?.(index);
  }
  const result = await session.close('call_ended');
  assert.ok(result);
  assert.equal(result.durationSeconds, 7);
  const decoder = new OggOpusDecoder();
  await decoder.ready;
  const audio = await decoder.decodeFile(readFileSync(path));
  decoder.free();
  assert.ok(Math.abs(audio.samplesDecoded / 48_000 - 7) < 0.02, `decoded ${audio.samplesDecoded / 48_000} s`);
  // The business channel: the played tone while frames went out, silence for the stall, the tone again after it.
  const right = (from: number, to: number) =>
    Int16Array.from(audio.channelData[1]!.subarray(48_000 * from, 48_000 * to), (x) => x * 32767);
  assert.equal(dominantFrequency(right(0.5, 1.5), 48_000), 660);
  assert.equal(dominantFrequency(right(2.5, 4.5), 48_000), null);
  assert.equal(dominantFrequency(right(5.5, 6.5), 48_000), 660);
});
