// The pacing admission rule, on counts alone: the late share of the last window against the limit, nothing
// concluded on too few frames, and a recovered process admitting again once its late frames leave the window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LateFrameGuard } from './late-frame-guard.ts';

const pacing = (frames: number, late = 0, skipped = 0) => ({ frames, late, skipped });

test('over the limit in the last window: overloaded; at or under it: not', () => {
  const guard = new LateFrameGuard({ maxLatePercent: 10, windowMs: 10_000, minFrames: 1000 });
  guard.sample(0, pacing(0));
  assert.equal(guard.overloaded(5_000, pacing(2000, 200)), false, '10 % is the limit itself');
  assert.equal(guard.overloaded(5_000, pacing(2000, 201)), true);
  assert.equal(guard.overloaded(5_000, pacing(2000, 150, 60)), true, 'skipped frames count as bad ones');
});

test('too few frames in the window decide nothing', () => {
  const guard = new LateFrameGuard({ maxLatePercent: 5, minFrames: 1000 });
  assert.equal(guard.overloaded(0, pacing(5000, 5000)), false, 'no sample yet');
  guard.sample(0, pacing(0));
  assert.equal(guard.overloaded(1000, pacing(999, 999)), false);
  assert.equal(guard.overloaded(1000, pacing(1000, 999)), true);
});

test('late frames leave with the window: a recovered process admits again', () => {
  const guard = new LateFrameGuard({ maxLatePercent: 5, windowMs: 10_000, minFrames: 1000 });
  // One second of samples: 2 calls (100 frames/s); a stall at 3 s makes 60 frames late.
  let frames = 0;
  let late = 0;
  for (let s = 0; s <= 30; s++) {
    frames += 100;
    late += s === 3 ? 60 : 0;
    guard.sample(s * 1000, pacing(frames, late));
    const overloaded = guard.overloaded(s * 1000, pacing(frames, late));
    if (s >= 10 && s <= 12) {
      assert.equal(overloaded, true, `at ${s} s the stall is in the window`);
    }
    if (s >= 14) {
      assert.equal(overloaded, false, `at ${s} s the stall has left the window`);
    }
  }
});
