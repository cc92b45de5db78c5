// Opus encode/decode of 20 ms mono frames at 48 kHz, through libopus compiled to WebAssembly (opusscript's build,
// no native code). We drive the WebAssembly module ourselves: opusscript's own wrapper indexes its 16-bit heap
// view with byte addresses, so each instance writes outside its buffers and, with a few dozen codecs alive, one
// corrupts another (seen as packets that no longer decode). Here every buffer is addressed by its real pointer
// and sized for what the module touches. The module's PCM convention is one byte of little-endian PCM per 16-bit
// slot, in and out (see opusscript's src/opusscript_encoder.cpp).
import { FRAME_SAMPLES, MEDIA_SAMPLE_RATE } from '../audio/pcm.ts';
import { type OpusHandler, opusNative } from './opus-native.ts';

/** OPUS_APPLICATION_VOIP: tuned for speech. */
const VOIP = 2048;
/** The largest Opus packet (RFC 6716) and the longest frame a packet may decode to (120 ms at 48 kHz). */
const MAX_PACKET_BYTES = 4000;
const MAX_DECODED_SAMPLES = 5760;

export class OpusCodec {
  readonly #native = opusNative();
  readonly #handler: OpusHandler;
  readonly #pcmIn: number;
  readonly #packetOut: number;
  readonly #packetIn: number;
  readonly #pcmOut: number;
  #closed = false;

  constructor() {
    const n = this.#native;
    this.#handler = new n.OpusScriptHandler(MEDIA_SAMPLE_RATE, 1, VOIP);
    // Two slots (low byte, high byte) per input sample; 4 bytes each.
    this.#pcmIn = n._malloc(FRAME_SAMPLES * 4);
    this.#packetOut = n._malloc(MAX_PACKET_BYTES);
    this.#packetIn = n._malloc(MAX_PACKET_BYTES);
    this.#pcmOut = n._malloc(MAX_DECODED_SAMPLES * 4);
  }

  /** One 20 ms frame (960 samples) to one Opus packet. */
  encode(frame: Int16Array): Buffer {
    if (frame.length !== FRAME_SAMPLES) {
      throw new RangeError(`an Opus frame is ${FRAME_SAMPLES} samples, got ${frame.length}`);
    }
    this.#assertOpen();
    const n = this.#native;
    const heap = n.HEAP16;
    const base = this.#pcmIn >> 1;
    for (let i = 0; i < frame.length; i++) {
      const sample = frame[i] ?? 0;
      heap[base + 2 * i] = sample & 0xff;
      heap[base + 2 * i + 1] = (sample >> 8) & 0xff;
    }
    // "bytes" is how many samples the module reassembles from the byte slots: one frame's worth.
    const length = this.#handler._encode(this.#pcmIn, FRAME_SAMPLES, this.#packetOut, FRAME_SAMPLES);
    if (length < 0) {
      throw new Error(`Opus encode failed (${length})`);
    }
    return Buffer.from(n.HEAPU8.slice(this.#packetOut, this.#packetOut + length));
  }

  /** One Opus packet (mono or stereo) to mono PCM; a corrupt or oversized packet decodes to nothing. */
  decode(packet: Uint8Array): Int16Array {
    if (this.#closed || packet.length === 0 || packet.length > MAX_PACKET_BYTES) {
      return new Int16Array(0);
    }
    const n = this.#native;
    n.HEAPU8.set(packet, this.#packetIn);
    const samples = this.#handler._decode(this.#packetIn, packet.length, this.#pcmOut);
    if (samples <= 0 || samples > MAX_DECODED_SAMPLES) {
      return new Int16Array(0);
    }
    const heap = n.HEAP16;
    const base = this.#pcmOut >> 1;
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      out[i] = ((heap[base + 2 * i + 1] ?? 0) << 8) | ((heap[base + 2 * i] ?? 0) & 0xff);
    }
    return out;
  }

  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    const n = this.#native;
    n.OpusScriptHandler.destroy_handler(this.#handler);
    for (const pointer of [this.#pcmIn, this.#packetOut, this.#packetIn, this.#pcmOut]) {
      n._free(pointer);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new Error('the Opus codec is closed');
    }
  }
}
