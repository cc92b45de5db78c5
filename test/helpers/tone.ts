// Test signals for the media engine's unit tests: a sine and the strength of one frequency (Goertzel).
// Kept to tests until src/media/audio (the sandbox branch) lands with the production versions.

export function sine(freq: number, rate: number, seconds: number, amplitude = 12_000): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  }
  return out;
}

/** Power of `freq` in `pcm`, normalised by length so blocks of different sizes compare. */
export function goertzel(pcm: Int16Array, rate: number, freq: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  for (const x of pcm) {
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.length * pcm.length);
}

/** The strongest of the candidate frequencies. */
export function dominant(pcm: Int16Array, rate: number, candidates: number[]): number {
  let best = candidates[0] ?? 0;
  let bestPower = -1;
  for (const f of candidates) {
    const p = goertzel(pcm, rate, f);
    if (p > bestPower) {
      bestPower = p;
      best = f;
    }
  }
  return best;
}

/** Estimated frequency by counting upward zero crossings: checks pitch without a candidate list. */
export function zeroCrossingFrequency(pcm: Int16Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) {
    if ((pcm[i - 1] ?? 0) < 0 && (pcm[i] ?? 0) >= 0) {
      crossings++;
    }
  }
  return (crossings * rate) / pcm.length;
}

export function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const x of pcm) {
    sum += x * x;
  }
  return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
}
