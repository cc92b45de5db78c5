// Media queued by `play`, in the order the requests came, whatever order their downloads finish in: an item that
// is still loading holds the ones behind it (silence meanwhile), a failed one is skipped. `stop` empties it; a key
// the caller presses drops the items queued with `stopOnKey` (an IVR's prompt stops as the caller chooses).

import { ENGINE_FRAME } from './audio-queue.ts';

interface Item {
  state: 'loading' | 'ready' | 'failed';
  pcm: Int16Array;
  offset: number;
  stopOnKey: boolean;
}

export class PlayQueue {
  private items: Item[] = [];

  get length(): number {
    return this.items.length;
  }

  /** Queues audio still being fetched/decoded (48 kHz mono once it resolves). */
  enqueue(load: Promise<Int16Array>, stopOnKey = false): void {
    const item: Item = { state: 'loading', pcm: new Int16Array(0), offset: 0, stopOnKey };
    this.items.push(item);
    load.then(
      (pcm) => {
        item.pcm = pcm;
        item.state = 'ready';
      },
      () => {
        item.state = 'failed';
      },
    );
  }

  stop(): void {
    this.items = [];
  }

  /** The caller pressed a key: what was queued with stopOnKey goes, playing or not; the rest plays on. */
  keyPressed(): void {
    this.items = this.items.filter((item) => !item.stopOnKey);
  }

  /** The next 20 ms of played audio (the last frame of an item padded), or null for nothing to play now. */
  pull(): Int16Array | null {
    let frame: Int16Array | null = null;
    let filled = 0;
    while (filled < ENGINE_FRAME) {
      const head = this.items[0];
      if (!head || head.state === 'loading') {
        break;
      }
      if (head.state === 'failed' || head.offset >= head.pcm.length) {
        this.items.shift();
        continue;
      }
      frame ??= new Int16Array(ENGINE_FRAME);
      const n = Math.min(ENGINE_FRAME - filled, head.pcm.length - head.offset);
      frame.set(head.pcm.subarray(head.offset, head.offset + n), filled);
      filled += n;
      head.offset += n;
    }
    return frame;
  }
}
