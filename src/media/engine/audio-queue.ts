// Audio waiting to be sent to the caller, taken 20 ms at a time by the pump at the rate the pump asks for (48 kHz,
// or a realtime client's own rate while nothing else sounds). Marks sit between the chunks, so a client learns when
// what it queued before a mark has been played; `clear` drops the audio and reports every pending mark at once
// (Twilio's bidirectional semantics).

import { Resampler } from '../audio/resampler.ts';
import type { OpusRate } from '../rtc/index.ts';

export const ENGINE_RATE = 48_000;
export const ENGINE_FRAME = 960; // 20 ms at 48 kHz

/** Each chunk stays at the rate it was pushed at until it is pulled at another (see `pull`). */
type Item = { kind: 'audio'; pcm: Int16Array; offset: number; rate: OpusRate } | { kind: 'mark'; reached: () => void };

/** Samples at `rate` in 48 kHz ticks: every Opus rate divides 48 kHz, so the count stays a whole number. */
function ticks(samples: number, rate: number): number {
  return samples * (ENGINE_RATE / rate);
}

export class AudioQueue {
  private items: Item[] = [];
  /** What is queued, in 48 kHz ticks. */
  private queuedTicks = 0;
  private readonly maxTicks: number;
  /**
   * One stream per conversion (from → to), kept for the queue's life: a client's consecutive chunks go through one
   * filter, without the click a chunk converted on its own has at each edge.
   */
  private readonly resamplers = new Map<number, Resampler>();
  /** The highest rate audio has been pushed at, or null before any. */
  inputRate: OpusRate | null = null;
  /** Samples (at the rate pushed) refused because the queue was full: a client sending far faster than real time. */
  dropped = 0;
  /** The last pull gave a whole frame: the audio is flowing, and a frame it cannot fill ends it (padded). */
  private flowing = false;
  /** A burst's first, partial frame was held back one tick for the rest of it (see pull). */
  private held = false;

  constructor(maxSeconds = 60) {
    this.maxTicks = maxSeconds * ENGINE_RATE;
  }

  /** How much audio is waiting, in seconds. */
  get queuedSeconds(): number {
    return this.queuedTicks / ENGINE_RATE;
  }

  /** Queues audio at `rate`, kept at it: it is converted only if it is pulled at another. */
  push(pcm: Int16Array, rate: OpusRate = ENGINE_RATE): void {
    this.inputRate = Math.max(this.inputRate ?? 0, rate) as OpusRate;
    const room = Math.max(0, Math.floor((this.maxTicks - this.queuedTicks) / ticks(1, rate)));
    const taken = pcm.length <= room ? pcm : pcm.subarray(0, room);
    this.dropped += pcm.length - taken.length;
    if (taken.length > 0) {
      this.items.push({ kind: 'audio', pcm: taken, offset: 0, rate });
      this.queuedTicks += ticks(taken.length, rate);
    }
  }

  mark(reached: () => void): void {
    this.items.push({ kind: 'mark', reached });
  }

  clear(): void {
    const marks = this.items.filter((i) => i.kind === 'mark');
    this.items = [];
    this.queuedTicks = 0;
    this.resamplers.clear(); // their filters hold the tail of the dropped audio
    this.flowing = false;
    this.held = false;
    for (const m of marks) {
      m.reached();
    }
  }

  /**
   * The next 20 ms at `rate` (padded with silence at the end of the queued audio), or null when no audio is waiting.
   * A chunk at another rate is converted as it comes to be played, not all that is queued at once: a switch of rate
   * (a play starts, a client of another rate talks) with a minute queued must not stall the thread's other calls.
   */
  pull(rate: OpusRate = ENGINE_RATE): Int16Array | null {
    const frameSamples = rate / 50;
    // Audio starting again with less than a frame (a client's chunks that are not 20 ms each, or the first chunk
    // through a new resampler, which keeps its filter's length back) waits one tick for the rest: played at once,
    // its frame would be padded with silence and the next would go on where it stopped, a gap in the sound.
    if (!this.flowing && !this.held && this.available(rate, frameSamples) < frameSamples) {
      this.held = true;
      this.reachLeadingMarks();
      return null;
    }
    this.held = false;
    let frame: Int16Array | null = null;
    let filled = 0;
    while (this.items.length > 0 && filled < frameSamples) {
      const head = this.items[0] as Item;
      if (head.kind === 'mark') {
        this.items.shift();
        head.reached();
        continue;
      }
      if (head.rate !== rate) {
        this.convert(head, rate);
      }
      if (head.offset === head.pcm.length) {
        this.items.shift(); // all of it still in the filter (it comes out with the next chunk), or converted empty
        continue;
      }
      frame ??= new Int16Array(frameSamples);
      const n = Math.min(frameSamples - filled, head.pcm.length - head.offset);
      frame.set(head.pcm.subarray(head.offset, head.offset + n), filled);
      filled += n;
      head.offset += n;
      this.queuedTicks -= ticks(n, rate);
      if (head.offset === head.pcm.length) {
        this.items.shift();
      }
    }
    // Marks right behind the audio just taken are reached with this frame, not 20 ms later.
    this.reachLeadingMarks();
    this.flowing = filled === frameSamples;
    return frame;
  }

  private reachLeadingMarks(): void {
    while (this.items[0]?.kind === 'mark') {
      (this.items.shift() as { reached: () => void }).reached();
    }
  }

  /** Samples at `rate` ready to play, counted up to `enough` (converting only the chunks that takes). */
  private available(rate: OpusRate, enough: number): number {
    let samples = 0;
    for (const item of this.items) {
      if (samples >= enough) {
        break;
      }
      if (item.kind === 'audio') {
        if (item.rate !== rate) {
          this.convert(item, rate);
        }
        samples += item.pcm.length - item.offset;
      }
    }
    return samples;
  }

  /** What is left of `item`, to `rate`, through the stream its rate has to that one. */
  private convert(item: Item & { kind: 'audio' }, rate: OpusRate): void {
    // A number, not a string: this runs for every chunk while a play and a client at another rate sound together.
    const key = item.rate * ENGINE_RATE + rate;
    let resampler = this.resamplers.get(key);
    if (!resampler) {
      resampler = new Resampler(item.rate, rate);
      this.resamplers.set(key, resampler);
    }
    const rest = item.pcm.subarray(item.offset);
    const converted = resampler.process(rest);
    this.queuedTicks += ticks(converted.length, rate) - ticks(rest.length, item.rate);
    item.pcm = converted;
    item.offset = 0;
    item.rate = rate;
  }
}
