// Which frequency dominates a stretch of audio: how tests (and the sandbox's simulated users) know what they heard.
import { rmsLevel } from './pcm.ts';

/** Power of one frequency in the samples (Goertzel), normalised by length so windows compare. */
export function goertzelPower(samples: Int16Array, sampleRate: number, frequency: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let previous = 0;
  let beforePrevious = 0;
  for (const sample of samples) {
    const current = sample / 32768 + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  const power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  return power / (samples.length * samples.length);
}

export interface DetectOptions {
  minHz?: number;
  maxHz?: number;
  /** Coarse scan step; the best bin is then refined to 1 Hz. */
  stepHz?: number;
  /** Below this RMS level (0..1) the audio counts as silence and nothing is detected. */
  minLevel?: number;
}

/**
 * The dominant frequency, in Hz rounded to 1 Hz, or null when the audio is silence.
 * A coarse Goertzel scan then a 1 Hz refinement around the best bin: cheap enough for a second of 48 kHz audio.
 */
export function dominantFrequency(samples: Int16Array, sampleRate: number, options: DetectOptions = {}): number | null {
  const { minHz = 80, maxHz = Math.min(3900, sampleRate / 2 - 1), stepHz = 10, minLevel = 0.005 } = options;
  if (samples.length < sampleRate / 50 || rmsLevel(samples) < minLevel) {
    return null;
  }
  // Voice-band tones need no more than 8 kHz: averaging blocks down to it is a cheap low-pass and cuts the scan 6x.
  const factor = Math.max(1, Math.floor(sampleRate / 8000));
  if (factor > 1 && maxHz < sampleRate / factor / 2) {
    return scan(decimate(samples, factor), sampleRate / factor, minHz, maxHz, stepHz);
  }
  return scan(samples, sampleRate, minHz, maxHz, stepHz);
}

function decimate(samples: Int16Array, factor: number): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / factor));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let j = 0; j < factor; j++) {
      sum += samples[i * factor + j] ?? 0;
    }
    out[i] = Math.round(sum / factor);
  }
  return out;
}

function scan(samples: Int16Array, sampleRate: number, minHz: number, maxHz: number, stepHz: number): number {
  let best = minHz;
  let bestPower = -1;
  for (let f = minHz; f <= maxHz; f += stepHz) {
    const power = goertzelPower(samples, sampleRate, f);
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  for (let f = Math.max(minHz, best - stepHz); f <= Math.min(maxHz, best + stepHz); f += 1) {
    const power = goertzelPower(samples, sampleRate, f);
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}
