import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominantFrequency } from '../audio/detect.ts';
import { tone } from '../audio/tone.ts';
import { WasmOpus } from './opus-wasm.ts';

test('a tone survives Opus encode and decode, mono and stereo', () => {
  for (const channels of [1, 2] as const) {
    const codec = new WasmOpus(channels);
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
  const live: WasmOpus[] = [];
  const frame = tone(660, 0.02);
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 10; i++) {
      live.push(new WasmOpus(1));
    }
    for (const codec of live) {
      assert.equal(codec.decode(codec.encode(frame)).length, 960);
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
  const codec = new WasmOpus(1);
  assert.equal(codec.decode(Buffer.alloc(0)).length, 0);
  assert.equal(codec.decode(Buffer.alloc(5000)).length, 0);
  codec.decode(Buffer.from([0xff, 0xff, 0xff]));
  codec.close();
  assert.throws(() => codec.encode(new Int16Array(960)), /closed/);
});
