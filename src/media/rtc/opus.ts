// Opus encode/decode of 20 ms frames at 48 kHz (or a rate libopus converts to itself), mono (the endpoints) or
// stereo (recordings), through libopus
// compiled to WebAssembly (opusscript's build, no native code). We drive the WebAssembly module ourselves:
// opusscript's own wrapper (0.1.1) indexes its 16-bit heap view with byte addresses, so each instance writes
// outside its buffers and, with a few dozen codecs alive, one corrupts another (seen as packets that no longer
// decode, then a dead process). Here every buffer is addressed by its real pointer and sized for what the module
// touches. The module's PCM convention is one byte of little-endian PCM per 16-bit slot, in and out, and its
// length arguments count samples (see opusscript's src/opusscript_encoder.cpp).
import { FRAME_MS, MEDIA_SAMPLE_RATE } from '../audio/pcm.ts';
import { type OpusHandler, opusNative } from './opus-native.ts';

/** OPUS_APPLICATION_VOIP: tuned for speech. */
const VOIP = 2048;
const OPUS_SET_BITRATE = 4002;
/**
 * CELT only, at complexity 5: ~70 µs a frame here against ~100 µs for libopus's default, which picks SILK or hybrid
 * for speech — SILK is the slow part of this WebAssembly build, and a lower complexity alone makes it pick SILK more
 * (no faster). Complexity 3 (40 µs) smeared the edges of a played tone (3 of 50 frames lost their pitch); 5 keeps
 * them as well as the default did. Every Opus decoder decodes CELT; at the default ~50 kbit/s it is full-band.
 */
const OPUS_SET_FORCE_MODE = 11002;
const MODE_CELT_ONLY = 1002;
const OPUS_SET_COMPLEXITY = 4010;
/** Each frame coded without reference to the ones before: what a decoder that heard another encoder needs. */
const OPUS_SET_PREDICTION_DISABLED = 4042;
const ENCODER_COMPLEXITY = 5;
/** The largest Opus packet (RFC 6716) and the longest frame a packet may decode to (120 ms at 48 kHz). */
const MAX_PACKET_BYTES = 4000;
const MAX_DECODED_SAMPLES = 5760;

export interface OpusOptions {
  /** 1 (the default) or 2; stereo samples are interleaved, left first. */
  channels?: 1 | 2;
  /**
   * The PCM side's rate (48 kHz by default). Decoding straight to 8 or 16 kHz costs less than decoding to 48 kHz
   * and resampling down: libopus decodes CELT and SILK at that rate itself.
   */
  sampleRate?: OpusRate;
  /** Bits per second; libopus picks one when unset. */
  bitrate?: number;
  /**
   * The encoder's mode: `realtime` (the default), CELT only at complexity 5, for the live calls whose frame clock
   * it sits on; `default` leaves libopus's own choices (recordings, written a second at a time).
   */
  tuning?: 'realtime' | 'default';
}

/** The PCM rates libopus takes (RFC 6716 §2); the RTP clock stays 48 kHz whatever the codec's rate. */
export const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;
export type OpusRate = (typeof OPUS_RATES)[number];

export class OpusCodec {
  readonly channels: 1 | 2;
  readonly sampleRate: OpusRate;
  /** Samples per channel in a 20 ms frame at this codec's rate. */
  readonly frameSamples: number;
  readonly #native = opusNative();
  readonly #handler: OpusHandler;
  readonly #pcmIn: number;
  readonly #packetOut: number;
  readonly #packetIn: number;
  readonly #pcmOut: number;
  #closed = false;
  /** Frames still to encode without inter-frame prediction (see encodeIndependently). */
  #independentFrames = 0;

  constructor(options: OpusOptions = {}) {
    this.channels = options.channels ?? 1;
    this.sampleRate = options.sampleRate ?? MEDIA_SAMPLE_RATE;
    if (!OPUS_RATES.includes(this.sampleRate)) {
      throw new RangeError(`Opus takes ${OPUS_RATES.join(', ')} Hz, not ${this.sampleRate}`);
    }
    this.frameSamples = (this.sampleRate * FRAME_MS) / 1000;
    const n = this.#native;
    this.#handler = new n.OpusScriptHandler(this.sampleRate, this.channels, VOIP);
    if ((options.tuning ?? 'realtime') === 'realtime') {
      this.#handler._encoder_ctl(OPUS_SET_FORCE_MODE, MODE_CELT_ONLY);
      this.#handler._encoder_ctl(OPUS_SET_COMPLEXITY, ENCODER_COMPLEXITY);
    }
    if (options.bitrate) {
      this.#handler._encoder_ctl(OPUS_SET_BITRATE, options.bitrate);
    }
    // Two slots (low byte, high byte) per sample; 4 bytes each.
    this.#pcmIn = n._malloc(this.frameSamples * this.channels * 4);
    this.#packetOut = n._malloc(MAX_PACKET_BYTES);
    this.#packetIn = n._malloc(MAX_PACKET_BYTES);
    this.#pcmOut = n._malloc(MAX_DECODED_SAMPLES * this.channels * 4);
  }

  /** One 20 ms frame (960 samples per channel at 48 kHz, interleaved) to one Opus packet. */
  encode(frame: Int16Array): Buffer {
    const expected = this.frameSamples * this.channels;
    if (frame.length !== expected) {
      throw new RangeError(`an Opus frame is ${expected} samples, got ${frame.length}`);
    }
    this.#assertOpen();
    const n = this.#native;
    // Each byte of the little-endian frame into its own 16-bit slot, in one native copy.
    n.HEAPU16.set(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength), this.#pcmIn >> 1);
    const length = this.#handler._encode(this.#pcmIn, frame.length, this.#packetOut, this.frameSamples);
    if (this.#independentFrames > 0 && --this.#independentFrames === 0) {
      this.#handler._encoder_ctl(OPUS_SET_PREDICTION_DISABLED, 0);
    }
    if (length < 0) {
      throw new Error(`Opus encode failed (${length})`);
    }
    return Buffer.from(n.HEAPU8.subarray(this.#packetOut, this.#packetOut + length));
  }

  /**
   * The next `frames` packets decode alike whatever the decoder heard before: for an encoder that takes over a stream
   * from another (at another rate). Measured on a 660 Hz tone after 440 Hz from another encoder: three such frames
   * decode within 10 % of the tone's level from the first, where a plain new encoder's first came out 3 dB too loud.
   */
  encodeIndependently(frames: number): void {
    this.#assertOpen();
    this.#independentFrames = frames;
    this.#handler._encoder_ctl(OPUS_SET_PREDICTION_DISABLED, frames > 0 ? 1 : 0);
  }

  /** One Opus packet (mono or stereo) to this codec's channels; a corrupt or oversized packet decodes to nothing. */
  decode(packet: Uint8Array): Int16Array {
    if (this.#closed || packet.length === 0 || packet.length > MAX_PACKET_BYTES) {
      return new Int16Array(0);
    }
    const n = this.#native;
    n.HEAPU8.set(packet, this.#packetIn);
    const frames = this.#handler._decode(this.#packetIn, packet.length, this.#pcmOut);
    if (frames <= 0 || frames > MAX_DECODED_SAMPLES) {
      return new Int16Array(0);
    }
    // The slots hold one byte each (0–255): packed back into little-endian bytes in one native copy.
    const samples = frames * this.channels;
    const bytes = new Uint8Array(samples * 2);
    const base = this.#pcmOut >> 1;
    bytes.set(n.HEAPU16.subarray(base, base + samples * 2));
    return new Int16Array(bytes.buffer);
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
