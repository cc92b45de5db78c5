// Paces outgoing audio at one frame per 20 ms against the monotonic clock, without drift. One shared clock can pace
// every call of a process from a single timer: fewer wake-ups, and no call's timer waits behind another's.
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
  /** The slot of the shared grid this pacer's frame 0 belongs to. */
  firstSlot: number;
  next: number;
  stopped: boolean;
}

/**
 * One timer on a 20 ms grid; each started pacer counts its own frames from 0, the first sent at once. A pacer
 * behind by more than MAX_CATCH_UP_FRAMES skips to the frames still worth sending, on its own (one slow call never
 * moves another's frame indexes). The timer runs only while something is paced.
 */
export function createSharedFrameClock(timer: FrameTimer = realTime): SharedFrameClock {
  const pacers = new Set<Pacer>();
  let origin = 0;
  let cancel: (() => void) | null = null;

  const slotNow = () => Math.floor((timer.now() - origin) / FRAME_MS);

  const serve = (pacer: Pacer, due: number) => {
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
    if (pacers.size > 0 && !cancel) {
      cancel = timer.after(run, Math.max(0, origin + (slotNow() + 1) * FRAME_MS - timer.now()));
    }
  };

  function run() {
    cancel = null;
    const slot = slotNow();
    // A tick that throws must not cost the other calls their frame: it is raised once everyone has been served.
    let failure: unknown = null;
    for (const pacer of [...pacers]) {
      try {
        serve(pacer, slot - pacer.firstSlot);
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
      if (pacers.size === 0) {
        origin = timer.now();
      }
      const pacer: Pacer = { tick, firstSlot: slotNow(), next: 0, stopped: false };
      pacers.add(pacer);
      schedule();
      serve(pacer, 0);
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
