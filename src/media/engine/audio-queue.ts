// Audio waiting to be sent to the caller, in the engine's 48 kHz, taken 20 ms at a time by the pump. Marks sit
// between the chunks, so a client learns when what it queued before a mark has been played; `clear` drops the
// audio and reports every pending mark at once (Twilio's bidirectional semantics).

export const ENGINE_RATE = 48_000;
export const ENGINE_FRAME = 960; // 20 ms at 48 kHz

type Item = { kind: 'audio'; pcm: Int16Array; offset: number } | { kind: 'mark'; reached: () => void };

export class AudioQueue {
  private items: Item[] = [];
  private samples = 0;
  private readonly maxSamples: number;
  /** Samples refused because the queue was full: a client sending far faster than real time. */
  dropped = 0;

  constructor(maxSeconds = 60) {
    this.maxSamples = maxSeconds * ENGINE_RATE;
  }

  get queuedSamples(): number {
    return this.samples;
  }

  push(pcm: Int16Array): void {
    const room = this.maxSamples - this.samples;
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

  /** The next 20 ms (padded with silence at the end of the queued audio), or null when no audio is waiting. */
  pull(): Int16Array | null {
    let frame: Int16Array | null = null;
    let filled = 0;
    while (this.items.length > 0 && filled < ENGINE_FRAME) {
      const head = this.items[0] as Item;
      if (head.kind === 'mark') {
        this.items.shift();
        head.reached();
        continue;
      }
      frame ??= new Int16Array(ENGINE_FRAME);
      const n = Math.min(ENGINE_FRAME - filled, head.pcm.length - head.offset);
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
}
