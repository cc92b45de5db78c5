// Opus encode/decode of 20 ms mono frames at 48 kHz, through libopus compiled to WebAssembly (no native build).
import OpusScript from 'opusscript';
import { FRAME_SAMPLES, MEDIA_SAMPLE_RATE } from '../audio/pcm.ts';

export class OpusCodec {
  #encoder: OpusScript;
  #decoder: OpusScript;

  constructor() {
    this.#encoder = new OpusScript(MEDIA_SAMPLE_RATE, 1, OpusScript.Application.VOIP);
    this.#decoder = new OpusScript(MEDIA_SAMPLE_RATE, 1, OpusScript.Application.VOIP);
  }

  /** One 20 ms frame (960 samples) to one Opus packet. */
  encode(frame: Int16Array): Buffer {
    if (frame.length !== FRAME_SAMPLES) {
      throw new RangeError(`an Opus frame is ${FRAME_SAMPLES} samples, got ${frame.length}`);
    }
    return this.#encoder.encode(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), FRAME_SAMPLES);
  }

  /** One Opus packet (mono or stereo) to mono PCM; a corrupt packet decodes to nothing. */
  decode(packet: Buffer): Int16Array {
    try {
      const pcm = this.#decoder.decode(packet);
      // Copy out: the returned buffer is a view on WebAssembly memory that the next call overwrites.
      const out = new Int16Array(pcm.length / 2);
      for (let i = 0; i < out.length; i++) {
        out[i] = pcm.readInt16LE(i * 2);
      }
      return out;
    } catch {
      return new Int16Array(0);
    }
  }

  close(): void {
    this.#encoder.delete();
    this.#decoder.delete();
  }
}
