// Remembers the last stretch of received audio so "what is being heard" can be asked at any time.
import { dominantFrequency } from './detect.ts';
import { MEDIA_SAMPLE_RATE, rmsLevel } from './pcm.ts';

export interface Heard {
  /** Dominant frequency of the recent audio, or null for silence. */
  frequencyHz: number | null;
  /** RMS level of the recent audio, 0..1. */
  level: number;
  /** Samples received since the monitor started. */
  totalSamples: number;
}

export class AudioMonitor {
  readonly sampleRate: number;
  #window: Int16Array;
  #filled = 0;
  #write = 0;
  #total = 0;

  constructor(windowMs = 500, sampleRate = MEDIA_SAMPLE_RATE) {
    this.sampleRate = sampleRate;
    this.#window = new Int16Array(Math.round((windowMs * sampleRate) / 1000));
  }

  push(samples: Int16Array): void {
    for (const s of samples) {
      this.#window[this.#write] = s;
      this.#write = (this.#write + 1) % this.#window.length;
    }
    this.#filled = Math.min(this.#window.length, this.#filled + samples.length);
    this.#total += samples.length;
  }

  /** The remembered samples, oldest first. */
  recent(): Int16Array {
    if (this.#filled < this.#window.length) {
      return this.#window.slice(0, this.#filled);
    }
    const out = new Int16Array(this.#window.length);
    out.set(this.#window.subarray(this.#write), 0);
    out.set(this.#window.subarray(0, this.#write), this.#window.length - this.#write);
    return out;
  }

  heard(): Heard {
    const recent = this.recent();
    return {
      frequencyHz: dominantFrequency(recent, this.sampleRate),
      level: rmsLevel(recent),
      totalSamples: this.#total,
    };
  }
}
