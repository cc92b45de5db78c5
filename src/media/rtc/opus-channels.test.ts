// The codec's stereo side and its churn (recordings encode stereo; opus.test.ts covers the endpoints' mono).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominantFrequency } from '../audio/detect.ts';
import { tone } from '../audio/tone.ts';
import { OpusCodec } from './opus.ts';

function interleave(left: Int16Array, right: Int16Array): Int16Array {
  const out = new Int16Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    out[2 * i] = left[i] ?? 0;
    out[2 * i + 1] = right[i] ?? 0;
  }
  return out;
}

test('a tone survives Opus encode and decode, mono and stereo, in both tunings', () => {
  for (const [channels, tuning] of [
    [1, 'realtime'],
    [1, 'default'],
    [2, 'realtime'],
    [2, 'default'],
  ] as const) {
    const codec = new OpusCodec({ channels, tuning, bitrate: channels * 32_000 });
    const pcm = tone(440, 0.5);
    const out: number[] = [];
    for (let i = 0; i + 960 <= pcm.length; i += 960) {
      const frame = new Int16Array(960 * channels);
      for (let j = 0; j < 960; j++) {
        for (let c = 0; c < channels; c++) {
          frame[j * channels + c] = pcm[i + j] ?? 0;
        }
      }
      const decoded = codec.decode(codec.encode(frame));
      assert.equal(decoded.length, 960 * channels);
      for (let j = 0; j < 960; j++) {
        out.push(decoded[j * channels] ?? 0);
      }
    }
    codec.close();
    assert.equal(dominantFrequency(Int16Array.from(out).subarray(4800), 48_000), 440);
  }
});

test('hundreds of codecs made, used and freed leave the process healthy (opusscript’s own wrapper crashes here)', () => {
  const live: OpusCodec[] = [];
  const frame = tone(660, 0.02);
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 10; i++) {
      live.push(new OpusCodec({ channels: i % 2 === 0 ? 1 : 2 }));
    }
    for (const codec of live) {
      const input = codec.channels === 1 ? frame : interleave(frame, frame);
      assert.equal(codec.decode(codec.encode(input)).length, 960 * codec.channels);
    }
    for (const codec of live.splice(0, 5)) {
      codec.close();
    }
  }
  for (const codec of live) {
    codec.close();
  }
});

test('garbage packets decode to nothing instead of throwing', () => {
  const codec = new OpusCodec({ channels: 2, tuning: 'default' });
  assert.equal(codec.decode(Buffer.alloc(0)).length, 0);
  assert.equal(codec.decode(Buffer.alloc(5000)).length, 0);
  codec.decode(Buffer.from([0xff, 0xff, 0xff]));
  codec.close();
  assert.throws(() => codec.encode(new Int16Array(960)), /an Opus frame is 1920 samples/);
  assert.throws(() => codec.encode(new Int16Array(1920)), /closed/);
});
