// The one PCM shape the media code passes around: 16-bit signed mono samples at a known rate.

/** WebRTC's Opus clock and the rate every endpoint works at internally. */
export const MEDIA_SAMPLE_RATE = 48_000;
/** One packet of audio: 20 ms, as WhatsApp and browsers send it. */
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (MEDIA_SAMPLE_RATE * FRAME_MS) / 1000;

export function silence(samples = FRAME_SAMPLES): Int16Array {
  return new Int16Array(samples);
}

/** Root-mean-square level between 0 (silence) and 1 (full scale). */
export function rmsLevel(samples: Int16Array): number {
  if (samples.length === 0) {
    return 0;
  }
  let sum = 0;
  for (const s of samples) {
    sum += s * s;
  }
  return Math.sqrt(sum / samples.length) / 32768;
}
