// Paces outgoing audio at one frame per 20 ms against the monotonic clock, without drift. One shared clock can pace
// every call of a process from a single timer: calls whose frames fall due together share a wake-up.
import { FRAME_MS } from '../audio/pcm.ts';

/** Calls `tick(frameIndex)` once per frame; indexes skipped after a long stall keep the RTP clock true to time. */
export interface FrameClock {
  start(tick: (frameIndex: number) => void): () => void;
}

/** What a clock reads the time from and wakes up with (real time by default; tests step it by hand). */
export interface FrameTimer {
  now(): number;
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  after(fn: () => void, ms: number): () => void;
}

/** A clock shared by many calls: how many it is pacing now. */
export interface SharedFrameClock extends FrameClock {
  readonly size: number;
}

/** Frames owed more than this far behind are skipped rather than sent in a burst. */
const MAX_CATCH_UP_FRAMES = 5;

const realTime: FrameTimer = {
  now: () => performance.now(),
  after(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

interface Pacer {
  tick: (frameIndex: number) => void;
  /** When this pacer's frame 0 was due: frame k is due FRAME_MS × k later. */
  origin: number;
  next: number;
  stopped: boolean;
}

/**
 * Frames due this soon are sent with those due now: calls whose frames fall within this of each other share one
 * wake-up, at the cost of a frame at most this early.
 */
const BATCH_MS = 1;

/**
 * One timer for many calls. Each started pacer keeps its own 20 ms phase (from when it started, its frame 0 sent
 * at once), so the calls' sends stay spread over the frame instead of all landing in one burst; the single timer
 * wakes for the earliest frame due, sending every frame due within BATCH_MS of it. A pacer behind by more than
 * MAX_CATCH_UP_FRAMES skips to the frames still worth sending, on its own (one slow call never moves another's
 * frame indexes). The timer runs only while something is paced.
 */
export function createSharedFrameClock(timer: FrameTimer = realTime): SharedFrameClock {
  const pacers = new Set<Pacer>();
  let cancel: (() => void) | null = null;

  const serve = (pacer: Pacer, now: number) => {
    const due = Math.floor((now + BATCH_MS - pacer.origin) / FRAME_MS);
    if (due - pacer.next > MAX_CATCH_UP_FRAMES) {
      pacer.next = due - MAX_CATCH_UP_FRAMES;
    }
    while (pacer.next <= due && !pacer.stopped) {
      // Counted before the tick: a frame whose tick throws is not sent again.
      pacer.next += 1;
      pacer.tick(pacer.next - 1);
    }
  };

  const schedule = () => {
    if (cancel) {
      cancel();
      cancel = null;
    }
    let earliest = Number.POSITIVE_INFINITY;
    for (const pacer of pacers) {
      earliest = Math.min(earliest, pacer.origin + pacer.next * FRAME_MS);
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      cancel = timer.after(run, Math.max(0, earliest - timer.now()));
    }
  };

  function run() {
    cancel = null;
    const now = timer.now();
    // A tick that throws must not cost the other calls their frame: it is raised once everyone has been served.
    let failure: unknown = null;
    for (const pacer of [...pacers]) {
      try {
        serve(pacer, now);
      } catch (err) {
        failure ??= err;
      }
    }
    schedule();
    if (failure !== null) {
      throw failure;
    }
  }

  return {
    get size() {
      return pacers.size;
    },
    start(tick) {
      const pacer: Pacer = { tick, origin: timer.now(), next: 0, stopped: false };
      pacers.add(pacer);
      try {
        serve(pacer, pacer.origin);
      } finally {
        schedule();
      }
      return () => {
        pacer.stopped = true;
        pacers.delete(pacer);
        if (pacers.size === 0 && cancel) {
          cancel();
          cancel = null;
        }
      };
    },
  };
}

/** A timer chain of its own for each start (endpoints outside the engine: the sandbox, test peers). */
export const realtimeFrameClock: FrameClock = {
  start: (tick) => createSharedFrameClock().start(tick),
};
