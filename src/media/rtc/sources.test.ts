import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dominantFrequency } from '../audio/detect.ts';
import { FRAME_SAMPLES } from '../audio/pcm.ts';
import { tone } from '../audio/tone.ts';
import { writeWav } from '../audio/wav.ts';
import { EchoSource, pcmSource, toneSource, wavSource } from './sources.ts';

describe('PCM sources', () => {
  it('a tone source yields the tone frame after frame', () => {
    const source = toneSource(440);
    const joined = new Int16Array(FRAME_SAMPLES * 25);
    for (let i = 0; i < 25; i++) {
      joined.set(source.read(FRAME_SAMPLES) ?? new Int16Array(0), i * FRAME_SAMPLES);
    }
    assert.equal(dominantFrequency(joined, 48_000), 440);
  });

  it('an echo source is silent until it has heard a full frame, then plays it back in order', () => {
    const echo = new EchoSource();
    assert.equal(echo.read(FRAME_SAMPLES), null);
    echo.hear(Int16Array.from({ length: 600 }, (_, i) => i));
    assert.equal(echo.read(FRAME_SAMPLES), null);
    echo.hear(Int16Array.from({ length: 600 }, (_, i) => 600 + i));
    const frame = echo.read(FRAME_SAMPLES);
    assert.deepEqual(
      frame,
      Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => i),
    );
    assert.equal(echo.read(FRAME_SAMPLES), null);
  });

  it('an echo source keeps no more than a second of audio', () => {
    const echo = new EchoSource();
    for (let i = 0; i < 100; i++) {
      echo.hear(new Int16Array(FRAME_SAMPLES).fill(i));
    }
    // 100 frames heard, 50 kept: the oldest were dropped.
    assert.equal(echo.read(FRAME_SAMPLES)?.[0], 50);
  });

  it('a WAV at 16 kHz plays at 48 kHz once, then goes silent; looped it starts over', () => {
    const wav = writeWav({ sampleRate: 16_000, samples: tone(880, 0.1, 16_000) });
    const once = wavSource(wav);
    let total = 0;
    for (let frame = once.read(FRAME_SAMPLES); frame; frame = once.read(FRAME_SAMPLES)) {
      total += FRAME_SAMPLES;
    }
    assert.equal(total, FRAME_SAMPLES * 5);
    const looped = pcmSource(tone(880, 0.1, 16_000), 16_000, { loop: true });
    for (let i = 0; i < 20; i++) {
      assert.equal(looped.read(FRAME_SAMPLES)?.length, FRAME_SAMPLES);
    }
  });
});
