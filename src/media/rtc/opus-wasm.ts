// libopus through opusscript's WebAssembly build, with our own buffers, mono or stereo (OpusCodec in opus.ts is
// the mono codec of the endpoints; recordings need stereo). opusscript's JS wrapper (0.1.1) places its PCM views
// at twice the address it allocated (a byte pointer used as a 16-bit index), so every encode and decode writes
// outside its allocation; with a few dozen codecs made and freed the WebAssembly heap is corrupted and the process
// dies. This wrapper calls the same native handler with memory it owns. The handler takes PCM one byte per
// 16-bit cell and its length argument counts samples (it packs the bytes itself), so the PCM buffer is twice the
// PCM size.

import { type OpusHandler, opusNative } from './opus-native.ts';

const RATE = 48_000;
const MAX_FRAME = 2880; // 60 ms at 48 kHz
const MAX_PACKET = 3828;
const APPLICATION_VOIP = 2048;
const SET_BITRATE = 4002;

export class WasmOpus {
  readonly channels: 1 | 2;
  private readonly m = opusNative();
  private readonly handler: OpusHandler;
  private readonly pcm: number;
  private readonly packet: number;
  private closed = false;

  constructor(channels: 1 | 2, bitrate?: number) {
    this.channels = channels;
    this.handler = new this.m.OpusScriptHandler(RATE, channels, APPLICATION_VOIP);
    this.pcm = this.m._malloc(MAX_FRAME * channels * 2 * 2);
    this.packet = this.m._malloc(MAX_PACKET);
    if (bitrate) {
      this.handler._encoder_ctl(SET_BITRATE, bitrate);
    }
  }

  /** Interleaved samples of one frame (frameSize per channel) → one Opus packet. */
  encode(interleaved: Int16Array): Buffer {
    this.assertOpen();
    const frameSize = interleaved.length / this.channels;
    if (!Number.isInteger(frameSize) || frameSize > MAX_FRAME) {
      throw new RangeError(`bad Opus frame of ${interleaved.length} samples`);
    }
    const bytes = new Uint8Array(interleaved.buffer, interleaved.byteOffset, interleaved.byteLength);
    this.m.HEAPU16.set(bytes, this.pcm >> 1);
    const length = this.handler._encode(this.pcm, interleaved.length, this.packet, frameSize);
    if (length < 0) {
      throw new Error(`Opus encode failed (${length})`);
    }
    return Buffer.from(this.m.HEAPU8.subarray(this.packet, this.packet + length));
  }

  /** One packet → interleaved samples; a corrupt or oversized packet decodes to nothing. */
  decode(packet: Uint8Array): Int16Array {
    this.assertOpen();
    if (packet.length === 0 || packet.length > MAX_PACKET) {
      return new Int16Array(0);
    }
    this.m.HEAPU8.set(packet, this.packet);
    const frames = this.handler._decode(this.packet, packet.length, this.pcm);
    if (frames <= 0) {
      return new Int16Array(0);
    }
    const cells = this.m.HEAPU16.subarray(this.pcm >> 1, (this.pcm >> 1) + frames * this.channels * 2);
    const bytes = Uint8Array.from(cells); // one byte per cell
    return new Int16Array(bytes.buffer, 0, frames * this.channels);
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.m.OpusScriptHandler.destroy_handler(this.handler);
    this.m._free(this.pcm);
    this.m._free(this.packet);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new Error('the Opus codec is closed');
    }
  }
}
