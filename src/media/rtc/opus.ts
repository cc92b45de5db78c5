// Opus encode/decode of 20 ms mono frames at 48 kHz, through libopus compiled to WebAssembly (no native build).
import { FRAME_SAMPLES } from '../audio/pcm.ts';
import { WasmOpus } from './opus-wasm.ts';

export class OpusCodec {
  #encoder = new WasmOpus(1);
  #decoder = new WasmOpus(1);

  /** One 20 ms frame (960 samples) to one Opus packet. */
  encode(frame: Int16Array): Buffer {
    if (frame.length !== FRAME_SAMPLES) {
      throw new RangeError(`an Opus frame is ${FRAME_SAMPLES} samples, got ${frame.length}`);
    }
    return this.#encoder.encode(frame);
  }

  /** One Opus packet (mono or stereo) to mono PCM; a corrupt packet decodes to nothing. */
  decode(packet: Buffer): Int16Array {
    return this.#decoder.decode(packet);
  }

  close(): void {
    this.#encoder.close();
    this.#decoder.close();
  }
}
