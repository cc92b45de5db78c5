// Audio waiting to be sent to the caller, taken 20 ms at a time by the pump at the rate the pump asks for (48 kHz,
// or a realtime client's own rate while nothing else sounds). Marks sit between the chunks, so a client learns when
// what it queued before a mark has been played; `clear` drops the audio and reports every pending mark at once
// (Twilio's bidirectional semantics).

import { Resampler, resample } from '../audio/resampler.ts';
import type { OpusRate } from '../rtc/index.ts';

export const ENGINE_RATE = 48_000;
export const ENGINE_FRAME = 960; // 20 ms at 48 kHz

type Item = { kind: 'audio'; pcm: Int16Array; offset: number } | { kind: 'mark'; reached: () => void };

export class AudioQueue {
  private items: Item[] = [];
  private samples = 0;
  private readonly maxSeconds: number;
  /** What the queued audio is at: the rate of the first audio pushed, then of the last frame pulled. */
  private rate: number = ENGINE_RATE;
  /** One per rate audio arrives at, kept while the queue's rate holds: a stream keeps its filter's history. */
  private readonly resamplers = new Map<number, Resampler>();
  /** The highest rate audio has been pushed at, or null before any. */
  inputRate: OpusRate | null = null;
  /** Samples (at the queue's rate) refused because the queue was full: a client sending far faster than real time. */
  dropped = 0;

  constructor(maxSeconds = 60) {
    this.maxSeconds = maxSeconds;
  }

  /** How much audio is waiting, in seconds. */
  get queuedSeconds(): number {
    return this.samples / this.rate;
  }

  /** Queues audio at `rate`, converted to the queue's rate if it differs. */
  push(pcm: Int16Array, rate: OpusRate = ENGINE_RATE): void {
    if (this.inputRate === null && this.samples === 0) {
      this.rate = rate; // the first audio sets the rate: the pump asks for it next, and nothing is converted
    }
    this.inputRate = Math.max(this.inputRate ?? 0, rate) as OpusRate;
    if (rate !== this.rate) {
      let resampler = this.resamplers.get(rate);
      if (!resampler) {
        resampler = new Resampler(rate, this.rate);
        this.resamplers.set(rate, resampler);
      }
      pcm = resampler.process(pcm);
    }
    const room = this.maxSeconds * this.rate - this.samples;
    const taken = pcm.length <= room ? pcm : pcm.subarray(0, Math.max(0, room));
    this.dropped += pcm.length - taken.length;
    if (taken.length > 0) {
      this.items.push({ kind: 'audio', pcm: taken, offset: 0 });
      this.samples += taken.length;
    }
  }

  mark(reached: () => void): void {
    this.items.push({ kind: 'mark', reached });
  }

  clear(): void {
    const marks = this.items.filter((i) => i.kind === 'mark');
    this.items = [];
    this.samples = 0;
    for (const m of marks) {
      m.reached();
    }
  }

  /**
   * The next 20 ms at `rate` (padded with silence at the end of the queued audio), or null when no audio is waiting.
   * A new rate converts what is queued: it changes when a play starts or a client of another rate talks, rarely.
   */
  pull(rate: OpusRate = ENGINE_RATE): Int16Array | null {
    if (rate !== this.rate) {
      this.convertTo(rate);
    }
    const frameSamples = rate / 50;
    let frame: Int16Array | null = null;
    let filled = 0;
    while (this.items.length > 0 && filled < frameSamples) {
      const head = this.items[0] as Item;
      if (head.kind === 'mark') {
        this.items.shift();
        head.reached();
        continue;
      }
      frame ??= new Int16Array(frameSamples);
      const n = Math.min(frameSamples - filled, head.pcm.length - head.offset);
      frame.set(head.pcm.subarray(head.offset, head.offset + n), filled);
      filled += n;
      head.offset += n;
      this.samples -= n;
      if (head.offset === head.pcm.length) {
        this.items.shift();
      }
    }
    // Marks right behind the audio just taken are reached with this frame, not 20 ms later.
    while (this.items[0]?.kind === 'mark') {
      (this.items.shift() as { reached: () => void }).reached();
    }
    return frame;
  }

  private convertTo(rate: number): void {
    this.samples = 0;
    for (const item of this.items) {
      if (item.kind === 'audio') {
        item.pcm = resample(item.pcm.subarray(item.offset), this.rate, rate);
        item.offset = 0;
        this.samples += item.pcm.length;
      }
    }
    this.rate = rate;
    this.resamplers.clear();
  }
}
