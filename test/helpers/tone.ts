// Test signals for the media engine's unit tests, on top of src/media/audio (tone generation, Goertzel): a sine
// at a given 16-bit amplitude, the strongest of a few candidate frequencies, a zero-crossing pitch estimate and RMS.
import { goertzelPower } from '../../src/media/audio/detect.ts';
import { tone } from '../../src/media/audio/tone.ts';

export function sine(freq: number, rate: number, seconds: number, amplitude = 12_000): Int16Array {
  return tone(freq, seconds, rate, amplitude / 32_768);
}

/** Power of `freq` in `pcm`, normalised by length so blocks of different sizes compare. */
export function goertzel(pcm: Int16Array, rate: number, freq: number): number {
  return goertzelPower(pcm, rate, freq);
}

/** The strongest of the candidate frequencies. */
export function dominant(pcm: Int16Array, rate: number, candidates: number[]): number {
  let best = candidates[0] ?? 0;
  let bestPower = -1;
  for (const f of candidates) {
    const p = goertzelPower(pcm, rate, f);
    if (p > bestPower) {
      bestPower = p;
      best = f;
    }
  }
  return best;
}

/** Estimated frequency by counting upward zero crossings: checks pitch without a candidate list. */
export function zeroCrossingFrequency(pcm: Int16Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) {
    if ((pcm[i - 1] ?? 0) < 0 && (pcm[i] ?? 0) >= 0) {
      crossings++;
    }
  }
  return (crossings * rate) / pcm.length;
}

export function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const x of pcm) {
    sum += x * x;
  }
  return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
}
