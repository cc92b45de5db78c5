// What every decoder of played media returns, and the one error they raise. Audio leaves the decoders as mono
// 16-bit PCM at the engine's 48 kHz, whatever the file held, so the pump never converts at play time.

import { resampleInTurns } from '../audio/resampler.ts';
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

/**
 * Averages the channels of `samples` decoded samples into one 16-bit channel (float samples in −1…1, as
 * WebAssembly decoders give); a decoder's output is folded step by step, so a file of many channels is held as one.
 */
export function downmix(channels: Float32Array[], samples: number): Int16Array {
  const mono = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    let sum = 0;
    for (const ch of channels) {
      sum += ch[i] ?? 0;
    }
    const v = (sum / channels.length) * 32767;
    mono[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
  }
  return mono;
}

/** The mono blocks, joined and converted to 48 kHz (letting the event loop run: see resampleInTurns). */
export async function joinAt48k(blocks: Int16Array[], rate: number): Promise<DecodedAudio> {
  let length = 0;
  for (const block of blocks) {
    length += block.length;
  }
  const mono = new Int16Array(length);
  let at = 0;
  for (const block of blocks) {
    mono.set(block, at);
    at += block.length;
  }
  return { pcm: await resampleInTurns(mono, rate, ENGINE_RATE), seconds: length / rate };
}
