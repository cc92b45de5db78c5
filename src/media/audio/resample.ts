// Sample-rate conversion by linear interpolation: enough for voice between 8, 16 and 48 kHz.

export function resample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || samples.length === 0) {
    return samples.slice();
  }
  const length = Math.max(1, Math.round((samples.length * toRate) / fromRate));
  const out = new Int16Array(length);
  const ratio = fromRate / toRate;
  const last = samples.length - 1;
  for (let i = 0; i < length; i++) {
    const position = i * ratio;
    const index = Math.min(Math.floor(position), last);
    const fraction = position - index;
    const a = samples[index] ?? 0;
    const b = samples[Math.min(index + 1, last)] ?? a;
    out[i] = Math.round(a + (b - a) * fraction);
  }
  return out;
}
