import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominant, goertzel, rms, sine, zeroCrossingFrequency } from '../../../test/helpers/tone.ts';
import { Resampler, resample } from './resampler.ts';

const PAIRS: [number, number][] = [
  [48_000, 8_000],
  [8_000, 48_000],
  [48_000, 16_000],
  [16_000, 48_000],
  [16_000, 8_000],
  [8_000, 16_000],
  [44_100, 48_000],
];

for (const [from, to] of PAIRS) {
  test(`${from} → ${to} Hz keeps a 440 Hz tone at 440 Hz, its length and its level`, () => {
    const out = resample(sine(440, from, 1), from, to);
    assert.ok(Math.abs(out.length - to) <= 1, `length ${out.length}`);
    const middle = out.subarray(Math.round(to * 0.1), Math.round(to * 0.9));
    assert.ok(Math.abs(zeroCrossingFrequency(middle, to) - 440) < 3);
    assert.equal(dominant(middle, to, [300, 440, 660, 880]), 440);
    const level = rms(middle) / (12_000 / Math.SQRT2);
    assert.ok(level > 0.95 && level < 1.05, `level ${level}`);
  });
}

test('48 → 8 kHz removes a 6 kHz tone instead of folding it to 2 kHz', () => {
  const out = resample(sine(6000, 48_000, 0.5), 48_000, 8_000);
  const middle = out.subarray(400, 3600);
  assert.ok(rms(middle) < 12_000 * 0.01, `leaked rms ${rms(middle)}`);
  assert.ok(goertzel(middle, 8000, 2000) < goertzel(sine(2000, 8000, 0.4, 120), 8000, 2000));
});

test('converting 20 ms frames one by one gives the same samples as converting the whole signal', () => {
  const input = sine(880, 48_000, 0.4);
  const whole = resample(input, 48_000, 16_000);
  const r = new Resampler(48_000, 16_000);
  const parts: number[] = [];
  for (let i = 0; i < input.length; i += 960) {
    parts.push(...r.process(input.subarray(i, i + 960)));
  }
  parts.push(...r.flush());
  assert.deepEqual(parts, [...whole]);
});

test('a long stream in 20 ms frames does not drift: 10 minutes of 48 kHz become exactly 10 minutes of 8 kHz', () => {
  const r = new Resampler(48_000, 8_000);
  const frame = new Int16Array(960);
  let produced = 0;
  for (let i = 0; i < 30_000; i++) {
    produced += r.process(frame).length;
  }
  produced += r.flush().length;
  assert.equal(produced, 8_000 * 600);
});

test('refuses rates that are not positive integers', () => {
  assert.throws(() => new Resampler(0, 8000), RangeError);
  assert.throws(() => new Resampler(44_100.5, 8000), RangeError);
});

/** Level of `freq` in the steady middle of `pcm` (the filter's edges left out), in dB relative to `reference`. */
function levelDb(pcm: Int16Array, rate: number, freq: number, reference: number): number {
  const middle = pcm.subarray(Math.round(rate * 0.1), Math.round(rate * 0.4));
  return 10 * Math.log10(goertzel(middle, rate, freq) / reference + 1e-20);
}

// The engine's rates (Opus 48 kHz, pcm16 16 kHz, Twilio 8 kHz, 24 kHz Opus decodes) both ways.
const DOWN: [number, number][] = [
  [48_000, 8_000],
  [48_000, 16_000],
  [48_000, 24_000],
  [24_000, 8_000],
  [16_000, 8_000],
  [24_000, 16_000],
];

for (const [from, to] of DOWN) {
  const nyquist = to / 2;
  test(`${from} → ${to} Hz: a tone just above ${nyquist} Hz is not folded back into the band`, () => {
    // A tone at nyquist + d comes out, if at all, at nyquist - d: speech's energy above the new band must not.
    for (const above of [1.025, 1.05, 1.1, 1.25]) {
      const f = Math.round(nyquist * above);
      const alias = to - f;
      const reference = goertzel(sine(alias, to, 0.5).subarray(Math.round(to * 0.1), Math.round(to * 0.4)), to, alias);
      const db = levelDb(resample(sine(f, from, 0.5), from, to), to, alias, reference);
      assert.ok(db < -40, `${f} Hz folded to ${alias} Hz at ${db.toFixed(1)} dB`);
    }
  });

  test(`${from} → ${to} Hz: the band up to 0.85 × ${nyquist} Hz passes within 1.5 dB`, () => {
    for (const part of [0.05, 0.25, 0.5, 0.75, 0.85]) {
      const f = Math.round(nyquist * part);
      const reference = goertzel(sine(f, to, 0.5).subarray(Math.round(to * 0.1), Math.round(to * 0.4)), to, f);
      const db = levelDb(resample(sine(f, from, 0.5), from, to), to, f, reference);
      assert.ok(Math.abs(db) < 1.5, `${f} Hz at ${db.toFixed(2)} dB`);
    }
  });
}

for (const [to, from] of DOWN) {
  const nyquist = from / 2;
  test(`${from} → ${to} Hz: a tone below ${nyquist} Hz leaves no image above it`, () => {
    // Upsampling mirrors a tone f around the old Nyquist (to from - f) unless the filter removes the copy.
    for (const below of [0.75, 0.85, 0.9]) {
      const f = Math.round(nyquist * below);
      const image = from - f;
      const out = resample(sine(f, from, 0.5), from, to);
      const db = levelDb(out, to, image, goertzel(out.subarray(Math.round(to * 0.1), Math.round(to * 0.4)), to, f));
      assert.ok(db < -40, `${f} Hz mirrored to ${image} Hz at ${db.toFixed(1)} dB`);
    }
  });

  test(`${from} → ${to} Hz: 20 ms frames one by one give the whole signal's samples (no click at their edges)`, () => {
    const input = sine(3000, from, 0.3);
    const whole = resample(input, from, to);
    const r = new Resampler(from, to);
    const parts: number[] = [];
    for (let i = 0; i < input.length; i += from / 50) {
      parts.push(...r.process(input.subarray(i, i + from / 50)));
    }
    parts.push(...r.flush());
    assert.deepEqual(parts, [...whole]);
  });
}
