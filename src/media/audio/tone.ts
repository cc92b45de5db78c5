// Sine tones: the known signal every media test sends and listens for.
import { MEDIA_SAMPLE_RATE } from './pcm.ts';

/** Generates a continuous sine, frame after frame, with no phase jump between frames. */
export class ToneGenerator {
  readonly frequency: number;
  readonly sampleRate: number;
  readonly amplitude: number;
  #position = 0;

  constructor(frequency: number, sampleRate = MEDIA_SAMPLE_RATE, amplitude = 0.5) {
    if (!(frequency > 0 && frequency < sampleRate / 2)) {
      throw new RangeError(`tone frequency must be between 0 and ${sampleRate / 2} Hz`);
    }
    this.frequency = frequency;
    this.sampleRate = sampleRate;
    this.amplitude = amplitude;
  }

  next(count: number): Int16Array {
    const out = new Int16Array(count);
    const step = (2 * Math.PI * this.frequency) / this.sampleRate;
    for (let i = 0; i < count; i++) {
      out[i] = Math.round(Math.sin((this.#position + i) * step) * this.amplitude * 32767);
    }
    // A sample counter in a double stays exact for centuries of audio, so the phase never drifts.
    this.#position += count;
    return out;
  }
}

/** A tone of a given length in one buffer (for WAV fixtures). */
export function tone(frequency: number, seconds: number, sampleRate = MEDIA_SAMPLE_RATE, amplitude = 0.5): Int16Array {
  return new ToneGenerator(frequency, sampleRate, amplitude).next(Math.round(seconds * sampleRate));
}
