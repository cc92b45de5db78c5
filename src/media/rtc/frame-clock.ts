// Paces outgoing audio at one frame per 20 ms against the monotonic clock, without drift.
import { FRAME_MS } from '../audio/pcm.ts';

/** Calls `tick(frameIndex)` once per frame; indexes skipped after a long stall keep the RTP clock true to time. */
export interface FrameClock {
  start(tick: (frameIndex: number) => void): () => void;
}

/** Frames owed more than this far behind are skipped rather than sent in a burst. */
const MAX_CATCH_UP_FRAMES = 5;

export const realtimeFrameClock: FrameClock = {
  start(tick) {
    const origin = performance.now();
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const run = () => {
      if (stopped) {
        return;
      }
      const due = Math.floor((performance.now() - origin) / FRAME_MS);
      if (due - next > MAX_CATCH_UP_FRAMES) {
        next = due - MAX_CATCH_UP_FRAMES;
      }
      while (next <= due && !stopped) {
        tick(next);
        next += 1;
      }
      timer = setTimeout(run, Math.max(0, origin + next * FRAME_MS - performance.now()));
    };
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  },
};
