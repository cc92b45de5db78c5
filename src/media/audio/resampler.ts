// Streaming sample-rate conversion between the engine's rates (Opus 48 kHz, pcm16 16 kHz, μ-law 8 kHz) and
// whatever a played file brings (44.1 kHz MP3, say). A rational polyphase windowed-sinc filter: the rate ratio
// is reduced to L/M, each of the L output phases has its own precomputed taps, and the filter is over (≥ 40 dB
// down) by the lower Nyquist, so a 48 → 8 kHz step does not fold high tones down into the band, nor an 8 → 48 kHz
// step leave mirror images above it. It keeps K input samples of history between calls, so 20 ms frames convert
// without clicks at their edges (and with K samples of delay).

import { setImmediate as nextTurn } from 'node:timers/promises';

// Cut-off at 0.9 of the lower Nyquist, 20 zero crossings each side: flat within 1 dB to 0.85 of it (3.4 kHz at
// 8 kHz), ≥ 40 dB down from it on. The former 8 crossings at 0.95 were 6 dB down only at 0.95 and ~10 dB at the
// Nyquist itself: a tone at 4.1 kHz reached an 8 kHz client as 3.9 kHz at −12 dB (resampler.test.ts).
const ZERO_CROSSINGS = 20;
const ROLL_OFF = 0.9;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function sinc(x: number): number {
  return x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
}

// Blackman window over [-1, 1].
function blackman(u: number): number {
  return 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
}

export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly up: number; // L
  private readonly down: number; // M
  private readonly half: number; // K: taps each side of the interpolation point
  private readonly taps: Float64Array[]; // per phase, 2K taps for input offsets -K+1 … K
  private buf: Float64Array;
  private bufLength = 0;
  private base: number; // absolute input index of buf[0]
  private index = 0; // integer input position of the next output sample
  private phase = 0; // its fractional part, in 1/L steps

  constructor(fromRate: number, toRate: number) {
    if (!Number.isInteger(fromRate) || !Number.isInteger(toRate) || fromRate <= 0 || toRate <= 0) {
      throw new RangeError(`sample rates must be positive integers, got ${fromRate} → ${toRate}`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    const g = gcd(fromRate, toRate);
    this.up = toRate / g;
    this.down = fromRate / g;
    const cutoff = Math.min(1, this.up / this.down) * ROLL_OFF;
    this.half = this.up === this.down ? 1 : Math.ceil(ZERO_CROSSINGS / cutoff);
    this.taps = [];
    for (let p = 0; p < this.up; p++) {
      const taps = new Float64Array(2 * this.half);
      const frac = p / this.up;
      for (let k = 0; k < taps.length; k++) {
        const x = k - this.half + 1 - frac; // input offset from the output instant
        const u = x / (this.half + 1);
        taps[k] = this.up === this.down ? (k === this.half - 1 ? 1 : 0) : cutoff * sinc(cutoff * x) * blackman(u);
      }
      this.taps.push(taps);
    }
    // History of K zeros so the first output sample sees a full window.
    this.buf = new Float64Array(4096);
    this.bufLength = this.half;
    this.base = -this.half;
  }

  /** Converts the next block of input; the output length follows the running position (no drift over a call). */
  process(input: Int16Array): Int16Array {
    this.append(input);
    return this.drain();
  }

  /** Pushes the last K samples out (zeros after the end); use once when a finite source is done. */
  flush(): Int16Array {
    this.append(new Int16Array(this.half));
    return this.drain();
  }

  private append(input: Int16Array): void {
    if (this.bufLength + input.length > this.buf.length) {
      const grown = new Float64Array(Math.max(this.buf.length * 2, this.bufLength + input.length));
      grown.set(this.buf.subarray(0, this.bufLength));
      this.buf = grown;
    }
    for (let i = 0; i < input.length; i++) {
      this.buf[this.bufLength + i] = input[i] ?? 0;
    }
    this.bufLength += input.length;
  }

  private drain(): Int16Array {
    const end = this.base + this.bufLength; // absolute index one past the last input sample
    const out = new Int16Array(Math.max(0, Math.ceil(((end - this.index) * this.up) / this.down) + 1));
    // Fields in locals: this loop runs for every output sample of every call, and V8 keeps locals in registers.
    const { buf, taps: phases, half, up, down, base } = this;
    const width = 2 * half;
    let { index, phase } = this;
    let n = 0;
    while (index + half < end) {
      const taps = phases[phase] as Float64Array;
      const start = index - half + 1 - base;
      let sum = 0;
      for (let k = 0; k < width; k++) {
        sum += (taps[k] as number) * (buf[start + k] as number);
      }
      out[n++] = sum > 32767 ? 32767 : sum < -32768 ? -32768 : Math.round(sum);
      phase += down;
      while (phase >= up) {
        phase -= up;
        index++;
      }
    }
    this.index = index;
    this.phase = phase;
    // Keep only what the next output still needs.
    const keepFrom = this.index - this.half + 1 - this.base;
    if (keepFrom > 0) {
      this.buf.copyWithin(0, keepFrom, this.bufLength);
      this.bufLength -= keepFrom;
      this.base += keepFrom;
    }
    return n === out.length ? out : out.subarray(0, n);
  }
}

/** Converts a whole buffer in one go (played files); streams use a Resampler per direction. */
export function resample(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) {
    return pcm;
  }
  // Output n stands for input instant n·from/to: the filter's look-ahead delays when samples come out, not where.
  const r = new Resampler(fromRate, toRate);
  const head = r.process(pcm);
  const tail = r.flush();
  const all = new Int16Array(head.length + tail.length);
  all.set(head);
  all.set(tail, head.length);
  return all;
}

/**
 * `resample` for a whole played file on a thread that paces calls: a quarter second of input at a time, the event
 * loop let run between, so converting minutes of audio (seconds of CPU at an awkward rate) stalls no call's frames.
 */
export async function resampleInTurns(pcm: Int16Array, fromRate: number, toRate: number): Promise<Int16Array> {
  if (fromRate === toRate) {
    return pcm;
  }
  const r = new Resampler(fromRate, toRate);
  const parts: Int16Array[] = [];
  let length = 0;
  const slice = Math.max(1, Math.floor(fromRate / 4));
  for (let at = 0; at < pcm.length; at += slice) {
    const out = r.process(pcm.subarray(at, at + slice));
    parts.push(out);
    length += out.length;
    await nextTurn(); // the event loop runs (frame clocks, sockets) between slices
  }
  const tail = r.flush();
  const all = new Int16Array(length + tail.length);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  all.set(tail, at);
  return all;
}
