// A synthetic voice: vowel-like syllables from a pulse train through formant resonators. No recording ships with
// callgate, yet a "speech" source should sound like someone talking (pitch, syllables, pauses), not a tone.
import { MEDIA_SAMPLE_RATE } from './pcm.ts';

/** First three formants (Hz) of a few vowels, roughly as an adult speaker says them. */
const VOWELS: readonly (readonly [number, number, number])[] = [
  [730, 1090, 2440], // a
  [270, 2290, 3010], // i
  [300, 870, 2240], // u
  [530, 1840, 2480], // e
  [570, 840, 2410], // o
];

/** A two-pole resonator: the simplest filter that shapes a formant. */
class Resonator {
  #y1 = 0;
  #y2 = 0;
  #a = 0;
  #b = 0;
  #c = 0;
  tune(frequency: number, bandwidth: number, sampleRate: number): void {
    const r = Math.exp((-Math.PI * bandwidth) / sampleRate);
    this.#b = 2 * r * Math.cos((2 * Math.PI * frequency) / sampleRate);
    this.#c = -r * r;
    this.#a = 1 - this.#b - this.#c;
  }
  step(x: number): number {
    const y = this.#a * x + this.#b * this.#y1 + this.#c * this.#y2;
    this.#y2 = this.#y1;
    this.#y1 = y;
    return y;
  }
}

/** Endless speech-like audio: syllables of 180–260 ms, a falling pitch per phrase, a pause between phrases. */
export class SpeechSynth {
  readonly #rate: number;
  readonly #formants = [new Resonator(), new Resonator(), new Resonator()];
  #n = 0;
  #phase = 0;

  constructor(sampleRate = MEDIA_SAMPLE_RATE) {
    this.#rate = sampleRate;
  }

  next(count: number): Int16Array {
    const out = new Int16Array(count);
    const syllable = Math.round(0.22 * this.#rate);
    const phrase = syllable * 7; // six syllables, then one syllable of silence
    for (let i = 0; i < count; i++, this.#n++) {
      const inPhrase = this.#n % phrase;
      const index = Math.floor(inPhrase / syllable);
      const within = (inPhrase % syllable) / syllable;
      if (index === 6) {
        out[i] = 0;
        continue;
      }
      if (inPhrase % syllable === 0) {
        const vowel = VOWELS[(Math.floor(this.#n / phrase) * 3 + index * 2) % VOWELS.length] ?? VOWELS[0];
        this.#formants.forEach((f, k) => {
          f.tune(vowel?.[k] ?? 1000, 80 + 40 * k, this.#rate);
        });
      }
      const pitch = 170 - index * 8 + 6 * Math.sin(this.#n / (this.#rate * 0.05));
      this.#phase += pitch / this.#rate;
      // One glottal pulse per pitch period, a gentle syllable envelope on top.
      const pulse = this.#phase >= 1 ? 1 : 0;
      this.#phase -= Math.floor(this.#phase);
      let sample = 0;
      for (const f of this.#formants) {
        sample += f.step(pulse);
      }
      const envelope = Math.sin(Math.PI * within) ** 0.6;
      out[i] = Math.max(-32768, Math.min(32767, Math.round(sample * envelope * 30_000)));
    }
    return out;
  }
}
