// Where an endpoint's outgoing audio comes from: a tone, an echo of what it hears, a WAV file, or nothing.
import { readFile } from 'node:fs/promises';
import { MEDIA_SAMPLE_RATE } from '../audio/pcm.ts';
import { resample } from '../audio/resampler.ts';
import { ToneGenerator } from '../audio/tone.ts';
import { readWav } from '../audio/wav.ts';
import type { OpusRate } from './opus.ts';

/** Pulled once per 20 ms frame; null (or a short read) means "nothing now" and the endpoint sends silence. */
export interface PcmSource {
  /** The rate of the frame about to be read (48 kHz when absent): `read` is then asked for 20 ms at it. */
  frameRate?(): OpusRate;
  read(samples: number): Int16Array | null;
  /** Frames the clock skipped after a stall (never read, never sent): time that passed all the same. */
  skipped?(frames: number): void;
  /** Sources that react to the far end (echo) are handed every decoded frame. */
  hear?(pcm: Int16Array): void;
}

export const silenceSource: PcmSource = { read: () => null };

export function toneSource(frequency: number): PcmSource {
  const generator = new ToneGenerator(frequency, MEDIA_SAMPLE_RATE);
  return { read: (samples) => generator.next(samples) };
}

/** Plays back what it hears, after the natural delay of one buffered frame; keeps at most a second queued. */
export class EchoSource implements PcmSource {
  #queue: Int16Array[] = [];
  #queued = 0;

  hear(pcm: Int16Array): void {
    this.#queue.push(pcm);
    this.#queued += pcm.length;
    while (this.#queued > MEDIA_SAMPLE_RATE && this.#queue.length > 0) {
      this.#queued -= this.#queue.shift()?.length ?? 0;
    }
  }

  read(samples: number): Int16Array | null {
    if (this.#queued < samples) {
      return null;
    }
    const out = new Int16Array(samples);
    let filled = 0;
    while (filled < samples) {
      const head = this.#queue[0];
      if (!head) {
        break;
      }
      const take = Math.min(head.length, samples - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) {
        this.#queue.shift();
      } else {
        this.#queue[0] = head.subarray(take);
      }
    }
    this.#queued -= filled;
    return out;
  }
}

/** PCM already in memory (any rate), played once or looped. */
export function pcmSource(samples: Int16Array, sampleRate: number, options: { loop?: boolean } = {}): PcmSource {
  const audio = resample(samples, sampleRate, MEDIA_SAMPLE_RATE);
  let position = 0;
  return {
    read(count) {
      if (audio.length === 0 || (position >= audio.length && !options.loop)) {
        return null;
      }
      const out = new Int16Array(count);
      let filled = 0;
      while (filled < count) {
        if (position >= audio.length) {
          if (!options.loop) {
            break;
          }
          position = 0;
        }
        const take = Math.min(count - filled, audio.length - position);
        out.set(audio.subarray(position, position + take), filled);
        filled += take;
        position += take;
      }
      return out;
    },
  };
}

export function wavSource(wav: Buffer, options: { loop?: boolean } = {}): PcmSource {
  const { samples, sampleRate } = readWav(wav);
  return pcmSource(samples, sampleRate, options);
}

export async function wavFileSource(path: string, options: { loop?: boolean } = {}): Promise<PcmSource> {
  return wavSource(await readFile(path), options);
}
