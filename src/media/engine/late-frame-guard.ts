// Admission by pacing: a process whose frames already go out late refuses new server-media calls (503
// MEDIA_CAPACITY) until its pacing recovers — a PBX's "refuse calls above this load", measured on what callers hear
// rather than on CPU. The engine samples its frame counts once a second; the late share over the last window
// decides. Too few frames in the window (an idle process, one short call) decide nothing.
import type { FramePacing } from '../rtc/frame-clock.ts';

export interface LateFrameGuardOptions {
  /** More than this share (percent) of the window's frames late or skipped: overloaded. */
  maxLatePercent: number;
  windowMs?: number;
  /** Below this many frames in the window nothing is concluded (10 s of 2 calls by default). */
  minFrames?: number;
}

interface Sample {
  at: number;
  frames: number;
  bad: number;
}

const count = (at: number, p: FramePacing): Sample => ({
  at,
  // A skipped frame was due and never sent: it counts as one, and as a bad one.
  frames: p.frames + p.skipped,
  bad: p.late + p.skipped,
});

export class LateFrameGuard {
  private readonly maxLatePercent: number;
  private readonly windowMs: number;
  private readonly minFrames: number;
  private readonly samples: Sample[] = [];

  constructor(o: LateFrameGuardOptions) {
    this.maxLatePercent = o.maxLatePercent;
    this.windowMs = o.windowMs ?? 10_000;
    this.minFrames = o.minFrames ?? 1000;
  }

  /** Records the counts at `at` (ms); only the newest sample at least a window old is kept among the old ones. */
  sample(at: number, pacing: FramePacing): void {
    this.samples.push(count(at, pacing));
    while (this.samples.length > 1 && (this.samples[1]?.at ?? at) <= at - this.windowMs) {
      this.samples.shift();
    }
  }

  /** Whether, from the window's start to `at` (counts `pacing`), more than the limit of the frames were bad. */
  overloaded(at: number, pacing: FramePacing): boolean {
    const start = this.samples[0];
    if (!start) {
      return false;
    }
    const now = count(at, pacing);
    const frames = now.frames - start.frames;
    return frames >= this.minFrames && ((now.bad - start.bad) * 100) / frames > this.maxLatePercent;
  }
}
