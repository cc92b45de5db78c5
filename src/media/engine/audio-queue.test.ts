import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominantFrequency } from '../audio/detect.ts';
import { tone } from '../audio/tone.ts';
import { AudioQueue, ENGINE_FRAME } from './audio-queue.ts';

test('audio comes out in 20 ms frames, the last one padded with silence, then nothing', () => {
  const q = new AudioQueue();
  q.push(new Int16Array(ENGINE_FRAME + 10).fill(7));
  assert.deepEqual([...(q.pull() ?? [])].slice(0, 3), [7, 7, 7]);
  const last = q.pull();
  assert.ok(last);
  assert.equal(last.length, ENGINE_FRAME);
  assert.equal(last[9], 7);
  assert.equal(last[10], 0);
  assert.equal(q.pull(), null);
});

test('a mark is reached with the frame that plays the audio before it, not earlier', () => {
  const q = new AudioQueue();
  const reached: string[] = [];
  q.push(new Int16Array(ENGINE_FRAME * 2).fill(1));
  q.mark(() => reached.push('m'));
  q.pull();
  assert.deepEqual(reached, []);
  q.pull();
  assert.deepEqual(reached, ['m']);
});

test('clear drops the audio and reaches every pending mark in order', () => {
  const q = new AudioQueue();
  const reached: string[] = [];
  q.push(new Int16Array(ENGINE_FRAME * 5));
  q.mark(() => reached.push('a'));
  q.push(new Int16Array(ENGINE_FRAME));
  q.mark(() => reached.push('b'));
  q.clear();
  assert.deepEqual(reached, ['a', 'b']);
  assert.equal(q.queuedSeconds, 0);
  assert.equal(q.pull(), null);
});

test('a client sending far faster than real time cannot queue more than the cap', () => {
  const q = new AudioQueue(1);
  q.push(new Int16Array(48_000 * 3));
  assert.equal(q.queuedSeconds, 1);
  assert.equal(q.dropped, 96_000);
});

test('audio comes out at the rate asked for: as pushed when they match, converted when not, none lost across a switch', () => {
  const q = new AudioQueue();
  const pushed = tone(440, 1, 8000);
  // 20 ms pushes of a Twilio-rate client, pulled at its rate for 10 frames, then at 48 kHz (a play has started).
  for (let at = 0; at < pushed.length; at += 160) {
    q.push(pushed.subarray(at, at + 160), 8000);
  }
  assert.equal(q.inputRate, 8000);
  const at8k: Int16Array[] = [];
  for (let i = 0; i < 10; i++) {
    at8k.push(q.pull(8000) as Int16Array);
  }
  assert.ok(at8k.every((f) => f.length === 160));
  assert.deepEqual(at8k[3], pushed.subarray(480, 640), 'no conversion at its own rate');
  const at48k: Int16Array[] = [];
  for (let f = q.pull(48_000); f; f = q.pull(48_000)) {
    at48k.push(f);
  }
  assert.ok(at48k.every((f) => f.length === ENGINE_FRAME));
  assert.equal(at8k.length + at48k.length, 50, 'one second in, one second out');
  const joined = new Int16Array(at48k.length * ENGINE_FRAME);
  for (const [i, f] of at48k.entries()) {
    joined.set(f, i * ENGINE_FRAME);
  }
  assert.equal(dominantFrequency(joined, 48_000), 440);
  // Pushed at 8 kHz from now on, it comes out at 48 kHz through one resampler: still 440 Hz, 20 ms per 20 ms.
  for (let at = 0; at < pushed.length; at += 160) {
    q.push(pushed.subarray(at, at + 160), 8000);
  }
  // Short by the resampler's own delay only (~1 ms).
  assert.ok(Math.abs(q.queuedSeconds - 1) <= 0.002, `${q.queuedSeconds} s queued for one second`);
});

/** Pushes `pcm` at `rate` in 20 ms chunks, as a realtime client sends it. */
function pushInFrames(q: AudioQueue, pcm: Int16Array, rate: 8000 | 16000): void {
  for (let at = 0; at < pcm.length; at += rate / 50) {
    q.push(pcm.subarray(at, at + rate / 50), rate);
  }
}

test('talk queued at a client’s rate and played at 48 kHz after a switch is converted as one stream, no click at its chunks’ edges', () => {
  const q = new AudioQueue();
  pushInFrames(q, tone(440, 1, 8000), 8000);
  for (let i = 0; i < 10; i++) {
    q.pull(8000);
  }
  const out: Int16Array[] = [];
  for (let f = q.pull(48_000); f; f = q.pull(48_000)) {
    out.push(f);
  }
  // A 440 Hz sine of amplitude 0.5 moves at most ~940 between 48 kHz samples; leave room for the switch itself.
  let largestStep = 0;
  for (let i = 2; i < out.length - 2; i++) {
    const f = out[i] as Int16Array;
    for (let s = 1; s < f.length; s++) {
      largestStep = Math.max(largestStep, Math.abs((f[s] as number) - (f[s - 1] as number)));
    }
  }
  assert.ok(largestStep < 1200, `a step of ${largestStep} inside converted audio`);
});

test('a switch with a minute of talk queued does not convert it all on one 20 ms tick', () => {
  const warm = new AudioQueue();
  pushInFrames(warm, tone(440, 0.1, 8000), 8000);
  warm.pull(48_000);
  const q = new AudioQueue();
  pushInFrames(q, tone(440, 60, 8000), 8000);
  q.pull(8000);
  const started = performance.now();
  q.pull(48_000);
  const took = performance.now() - started;
  // Converting all of it took 150–250 ms here, four frames or more of every call on the thread.
  assert.ok(took < 20, `the switching frame took ${took.toFixed(1)} ms`);
  assert.ok(Math.abs(q.queuedSeconds - (60 - 0.04)) < 0.01, `${q.queuedSeconds} s still queued`);
});

test('a mark between a client’s chunks stays between them across a switch', () => {
  const q = new AudioQueue();
  let reachedWithFrame = 0;
  let frames = 0;
  pushInFrames(q, tone(440, 0.1, 8000), 8000);
  q.mark(() => {
    reachedWithFrame = frames;
  });
  pushInFrames(q, tone(440, 0.1, 8000), 8000);
  frames = 1;
  q.pull(8000);
  while (reachedWithFrame === 0 && frames < 20) {
    frames++;
    q.pull(48_000);
  }
  assert.equal(reachedWithFrame, 5, 'reached with the frame that plays the end of the first 100 ms');
});

/** The longest run of samples within ±`floor` in `pcm`: a tone has none longer than a couple at its zero crossings. */
function longestQuietRun(pcm: Int16Array, floor = 100): number {
  let longest = 0;
  let run = 0;
  for (const x of pcm) {
    run = Math.abs(x) <= floor ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

/** The frames pulled, joined, from the first that carries audio on. */
function joinFrames(frames: (Int16Array | null)[]): Int16Array {
  const played = frames.slice(frames.findIndex((f) => f !== null)).map((f) => f ?? new Int16Array(0));
  const out = new Int16Array(played.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of played) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

test('a client sending 10 ms chunks in real time is played as it sent them: no silence in its first frame', () => {
  const q = new AudioQueue();
  const talk = tone(440, 0.5, 8000);
  const frames: (Int16Array | null)[] = [];
  // Two 80-sample chunks per 20 ms tick, the first of them arriving before the tick, the second after it.
  for (let at = 0; at < talk.length; at += 160) {
    q.push(talk.subarray(at, at + 80), 8000);
    frames.push(q.pull(8000));
    q.push(talk.subarray(at + 80, at + 160), 8000);
  }
  for (let f = q.pull(8000); f; f = q.pull(8000)) {
    frames.push(f);
  }
  const played = joinFrames(frames);
  assert.deepEqual([...played.subarray(0, talk.length)], [...talk], 'the audio as sent, not a sample moved');
});

test('talk converted to 48 kHz by a new resampler (first words, or after a clear) has no gap in its first frame', () => {
  const q = new AudioQueue();
  for (const round of ['first words', 'after a clear']) {
    const talk = tone(440, 0.5, 8000);
    const frames: (Int16Array | null)[] = [];
    // A Twilio client pacing 20 ms chunks in real time, on a call the play or the recording keeps at 48 kHz.
    for (let at = 0; at < talk.length; at += 160) {
      q.push(talk.subarray(at, at + 160), 8000);
      frames.push(q.pull(48_000));
    }
    const played = joinFrames(frames);
    const sounding = played.subarray(0, played.length - ENGINE_FRAME);
    assert.ok(longestQuietRun(sounding) <= 4, `${round}: ${longestQuietRun(sounding)} silent samples inside the tone`);
    q.clear();
  }
});
