// Opus encoding through opusscript (libopus compiled to WebAssembly: no native build). 48 kHz, 20 ms frames.

import { createRequire } from 'node:module';
import type OpusScriptType from 'opusscript';
import { ENGINE_FRAME, ENGINE_RATE } from './audio-queue.ts';

const require = createRequire(import.meta.url);

/** libopus's look-ahead at 48 kHz: what a decoder drops at the start (the Ogg pre-skip). */
export const OPUS_PRE_SKIP = 312;

export class OpusFrameEncoder {
  readonly channels: 1 | 2;
  private readonly opus: OpusScriptType;

  constructor(channels: 1 | 2, bitrate = channels * 32_000) {
    const OpusScript = require('opusscript') as typeof OpusScriptType;
    this.channels = channels;
    this.opus = new OpusScript(ENGINE_RATE, channels, OpusScript.Application.VOIP);
    this.opus.setBitrate(bitrate);
  }

  /** One 20 ms frame: ENGINE_FRAME samples per channel, interleaved when stereo. */
  encode(interleaved: Int16Array): Buffer {
    if (interleaved.length !== ENGINE_FRAME * this.channels) {
      throw new RangeError(`an Opus frame is ${ENGINE_FRAME * this.channels} samples, got ${interleaved.length}`);
    }
    const pcm = Buffer.from(interleaved.buffer, interleaved.byteOffset, interleaved.byteLength);
    return this.opus.encode(pcm, ENGINE_FRAME);
  }

  close(): void {
    this.opus.delete();
  }
}
