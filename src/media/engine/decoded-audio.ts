// What every decoder of played media returns, and the one error they raise. Audio leaves the decoders as mono
// 16-bit PCM at the engine's 48 kHz, whatever the file held, so the pump never converts at play time.

import { resample } from '../audio/resampler.ts';
import { ENGINE_RATE } from './audio-queue.ts';

export interface DecodedAudio {
  /** Mono, 48 kHz. */
  pcm: Int16Array;
  seconds: number;
}

/** The file is not audio we can play, or is over a limit; `message` is safe to show the API client. */
export class MediaDecodeError extends Error {}

export interface DecodeLimits {
  maxSeconds: number;
}

/** Averages the channels into one and converts to 48 kHz (float samples in −1…1, as WebAssembly decoders give). */
export function monoAt48k(channels: Float32Array[][], rate: number): DecodedAudio {
  let length = 0;
  for (const block of channels) {
    length += block[0]?.length ?? 0;
  }
  const mono = new Int16Array(length);
  let at = 0;
  for (const block of channels) {
    const n = block[0]?.length ?? 0;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (const ch of block) {
        sum += ch[i] ?? 0;
      }
      const v = (sum / block.length) * 32767;
      mono[at + i] = v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
    }
    at += n;
  }
  return { pcm: resample(mono, rate, ENGINE_RATE), seconds: length / rate };
}
