// MP3 (mpg123) and Ogg/Opus (libopus) through their WebAssembly builds: no native code, no install step. Both
// decode in 1 KiB steps so a long file stops at the duration limit instead of filling memory first: an Ogg/Opus
// packet of 2 bytes may stand for 120 ms, so 64 KiB steps let a 100 KB file decode an hour of audio (GBs) before
// the first check. Each step is folded to mono at once, so a file of many channels costs no more than one. The
// decoders (megabytes of inlined WebAssembly) load on the first play, not at start-up.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { type DecodedAudio, type DecodeLimits, downmix, joinAt48k, MediaDecodeError } from './decoded-audio.ts';

const STEP = 1024;

// Both decoders console.error every frame they cannot decode ("mpg123-decoder: -1 MPG123_ERR", "libopus -4
// OPUS_INVALID_PACKET…"), though they also return those errors: a corrupt 10 MB file printed thousands of plain lines
// to stderr, outside the JSON log, each a synchronous write on the thread that paces the calls. Those lines are
// dropped; a file that decodes to nothing is still refused below.
const DECODER_NOISE = /^(mpg123-decoder: |libopus -\d+ )/;
let noiseFiltered = false;
function dropDecoderNoise(): void {
  if (noiseFiltered) {
    return;
  }
  noiseFiltered = true;
  const error = console.error;
  console.error = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && DECODER_NOISE.test(args[0])) {
      return;
    }
    error.apply(console, args);
  };
}

interface Decoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
}

// mpg123's decode answers at once; the Ogg decoder's is async and holds the last page until flush.
interface StreamingDecoder {
  ready: Promise<void>;
  free: () => void;
  decode: (data: Uint8Array) => Decoded | Promise<Decoded>;
  flush?: () => Promise<Decoded>;
}

async function decodeInSteps(
  decoder: StreamingDecoder,
  bytes: Uint8Array,
  limits: DecodeLimits,
  what: string,
): Promise<DecodedAudio> {
  dropDecoderNoise();
  await decoder.ready;
  try {
    const blocks: Int16Array[] = [];
    let samples = 0;
    let rate = 0;
    const steps = Math.ceil(bytes.length / STEP);
    for (let step = 0; step <= steps; step++) {
      // The step after the last one flushes what a decoder still holds.
      // mpg123 decodes synchronously: without a turn of the event loop per step, a long file stalls every call.
      await nextTurn();
      const out =
        step < steps ? await decoder.decode(bytes.subarray(step * STEP, (step + 1) * STEP)) : await decoder.flush?.();
      if (out && out.samplesDecoded > 0) {
        rate = out.sampleRate;
        samples += out.samplesDecoded;
        // The decoders reuse their output memory: folded (copied) before the next step.
        blocks.push(downmix(out.channelData, out.samplesDecoded));
        if (samples / rate > limits.maxSeconds) {
          throw new MediaDecodeError(`media is longer than ${limits.maxSeconds} s`);
        }
      }
    }
    if (samples === 0 || rate === 0) {
      throw new MediaDecodeError(`no ${what} audio could be decoded`);
    }
    return await joinAt48k(blocks, rate);
  } catch (err) {
    // The decoders' own errors (another codec in an Ogg file, say) are the file's fault: a 400, not a 500.
    throw err instanceof MediaDecodeError
      ? err
      : new MediaDecodeError(`the ${what} audio could not be decoded: ${(err as Error).message}`);
  } finally {
    decoder.free();
  }
}

export async function decodeMp3(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedAudio> {
  const { MPEGDecoder } = await import('mpg123-decoder');
  return decodeInSteps(new MPEGDecoder(), bytes, limits, 'MP3');
}

export async function decodeOggOpus(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedAudio> {
  const { OggOpusDecoder } = await import('ogg-opus-decoder');
  return decodeInSteps(new OggOpusDecoder(), bytes, limits, 'Ogg/Opus');
}
