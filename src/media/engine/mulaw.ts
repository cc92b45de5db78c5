// G.711 μ-law, the sample format of Twilio Media Streams (8 kHz, one byte per sample).
// The classic segment/mantissa codec (ITU-T G.711, as in Sun's g711.c): 14-bit magnitude with a bias of 0x84.

const BIAS = 0x84;
const CLIP = 32635;

function encodeSample(sample: number): number {
  let pcm = sample;
  const sign = pcm < 0 ? 0x80 : 0;
  if (sign) {
    pcm = -pcm;
  }
  if (pcm > CLIP) {
    pcm = CLIP;
  }
  pcm += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) {
    exponent--;
  }
  const mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function decodeSample(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + BIAS) << exponent) - BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

// Decoding is a 256-entry lookup; encoding is cheap enough per sample and a 64 Ki table would cost memory per process.
const DECODE_TABLE = Int16Array.from({ length: 256 }, (_, byte) => decodeSample(byte));

/**
 * 16-bit linear PCM → μ-law bytes, one per sample. A Buffer from Node's pool: a 20 ms frame is 160 bytes, and a
 * fresh ArrayBuffer per frame per call is work for every young-generation GC.
 */
export function encodeMulaw(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    out[i] = encodeSample(pcm[i] ?? 0);
  }
  return out;
}

/** μ-law bytes → 16-bit linear PCM. */
export function decodeMulaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    out[i] = DECODE_TABLE[bytes[i] ?? 0xff] ?? 0;
  }
  return out;
}
