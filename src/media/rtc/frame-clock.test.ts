// The counting clock: frames on time are not late; a blocked event loop makes the frames it delays late, and a
// stall past the catch-up limit skips frames instead of bursting them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { countingFrameClock, newFramePacing } from './frame-clock.ts';

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the thread is busy: no timer can run
  }
}

test('a stalled loop counts the frames it delayed as late and skips those past the catch-up limit', async () => {
  const tally = newFramePacing();
  const ticks: number[] = [];
  const stop = countingFrameClock(tally).start((i) => ticks.push(i));
  await sleep(70);
  const before = { ...tally };
  assert.equal(before.frames, ticks.length);
  block(200); // ten frames due while blocked: five are skipped, the rest sent late in a burst
  await sleep(30);
  stop();
  assert.equal(tally.frames, ticks.length);
  assert.ok(tally.skipped >= 4, `skipped ${tally.skipped}`);
  assert.ok(tally.late - before.late >= 5, `late ${tally.late - before.late}`);
  // The indexes still follow time: what was skipped shows as a jump, never as a frame sent twice.
  for (let i = 1; i < ticks.length; i++) {
    assert.ok((ticks[i] ?? 0) > (ticks[i - 1] ?? 0));
  }
  assert.equal((ticks.at(-1) ?? 0) + 1 - ticks.length, tally.skipped);
});

test('one frame per 20 ms of the monotonic clock, each due from the start: late timers make no drift', (t) => {
  // The monotonic clock and the timers, both driven by the test: 20 ms is the RTP clock's 960 samples at 48 kHz.
  let now = 5_000;
  t.mock.method(performance, 'now', () => now);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const ticks: number[] = [];
  const stop = countingFrameClock(null).start((i) => ticks.push(i));
  const advance = (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  try {
    assert.deepEqual(ticks, [0], 'the first frame at once');
    for (let ms = 0; ms < 500; ms++) {
      advance(1);
    }
    assert.deepEqual(ticks, [...Array(26).keys()], 'frames 0–25 in 500 ms');
    // The timer fires 13 ms late: the frames due meanwhile go at once, and the next is still due at 20 ms steps.
    advance(33);
    assert.deepEqual(ticks.slice(26), [26], 'frame 26 (due at 520 ms) at 533 ms');
    for (let ms = 0; ms < 467; ms++) {
      advance(1);
    }
    assert.deepEqual(ticks, [...Array(51).keys()], 'after 1 s: 50 frames and the first, none made up or lost');
  } finally {
    stop();
  }
});
