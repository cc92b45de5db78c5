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
