// Paces outgoing audio at one frame per 20 ms against the monotonic clock, without drift.
import { FRAME_MS } from '../audio/pcm.ts';

/** Calls `tick(frameIndex)` once per frame; indexes skipped after a long stall keep the RTP clock true to time. */
export interface FrameClock {
  start(tick: (frameIndex: number) => void): () => void;
}

/**
 * What clocks have paced: frames sent, those sent more than LATE_MS after they were due (the far end's jitter
 * buffer sees them as jitter), and those skipped after a stall. Plain counts, read by the metrics at scrape time.
 */
export interface FramePacing {
  frames: number;
  late: number;
  skipped: number;
}

/** Later than this after its due time, a frame counts as late: 25 ms after the previous one, the pacing bar. */
export const LATE_MS = 5;

export function newFramePacing(): FramePacing {
  return { frames: 0, late: 0, skipped: 0 };
}

/** Frames owed more than this far behind are skipped rather than sent in a burst. */
const MAX_CATCH_UP_FRAMES = 5;

/** A clock whose frames are counted into `tally` (one tally for all the sessions of an engine), or not (null). */
export function countingFrameClock(tally: FramePacing | null): FrameClock {
  return {
    start(tick) {
      const origin = performance.now();
      let next = 0;
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      const run = () => {
        if (stopped) {
          return;
        }
        const now = performance.now();
        const due = Math.floor((now - origin) / FRAME_MS);
        if (due - next > MAX_CATCH_UP_FRAMES) {
          if (tally) {
            tally.skipped += due - MAX_CATCH_UP_FRAMES - next;
          }
          next = due - MAX_CATCH_UP_FRAMES;
        }
        while (next <= due && !stopped) {
          if (tally) {
            tally.frames += 1;
            tally.late += now - (origin + next * FRAME_MS) > LATE_MS ? 1 : 0;
          }
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
}

export const realtimeFrameClock: FrameClock = countingFrameClock(null);
