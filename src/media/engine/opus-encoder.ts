// Opus encoding of the engine's 20 ms frames at 48 kHz, mono or stereo (recordings are stereo).

import { OpusCodec } from '../rtc/opus.ts';
import { ENGINE_FRAME } from './audio-queue.ts';

/** libopus's look-ahead at 48 kHz: what a decoder drops at the start (the Ogg pre-skip). */
export const OPUS_PRE_SKIP = 312;

export class OpusFrameEncoder {
  readonly channels: 1 | 2;
  private readonly opus: OpusCodec;

  constructor(channels: 1 | 2, bitrate = channels * 32_000) {
    this.channels = channels;
    // libopus's own choices: a recording is written a second at a time, off any call's frame clock.
    this.opus = new OpusCodec({ channels, bitrate, tuning: 'default' });
  }

  /** One 20 ms frame: ENGINE_FRAME samples per channel, interleaved when stereo. */
  encode(interleaved: Int16Array): Buffer {
    if (interleaved.length !== ENGINE_FRAME * this.channels) {
      throw new RangeError(`an Opus frame is ${ENGINE_FRAME * this.channels} samples, got ${interleaved.length}`);
    }
    return this.opus.encode(interleaved);
  }

  close(): void {
    this.opus.close();
  }
}
