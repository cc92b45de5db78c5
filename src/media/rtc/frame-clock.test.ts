// The shared frame clock on a hand-driven timer: every call it paces gets each of its frame indexes once, in order,
// on one timer; a stall skips frames per call, never repeats them; the timer stops with the last call.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSharedFrameClock, type FrameTimer } from './frame-clock.ts';

/** A timer whose time moves only when the test says so; `pending` is how many wake-ups are armed. */
function handTimer(): FrameTimer & { advance(ms: number): void; stall(ms: number): void; readonly pending: number } {
  let time = 1000;
  let waiting: { at: number; fn: () => void }[] = [];
  return {
    now: () => time,
    after(fn, ms) {
      const entry = { at: time + ms, fn };
      waiting.push(entry);
      return () => {
        waiting = waiting.filter((w) => w !== entry);
      };
    },
    get pending() {
      return waiting.length;
    },
    /** Time passes with the event loop blocked: nothing fires until the next advance. */
    stall(ms) {
      time += ms;
    },
    advance(ms) {
      const end = time + ms;
      for (;;) {
        const due = waiting.filter((w) => w.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) {
          break;
        }
        waiting = waiting.filter((w) => w !== due);
        time = Math.max(time, due.at);
        due.fn();
      }
      time = end;
    },
  };
}

describe('shared frame clock', () => {
  it('paces two calls on one timer, each getting every frame index once, in order, from 0', () => {
    const timer = handTimer();
    const clock = createSharedFrameClock(timer);
    const a: number[] = [];
    const b: number[] = [];
    const bTimes: number[] = [];
    const stopA = clock.start((i) => a.push(i));
    timer.advance(30);
    const stopB = clock.start((i) => {
      b.push(i);
      bTimes.push(timer.now());
    });
    assert.equal(timer.pending, 1, 'one timer for both calls');
    assert.equal(clock.size, 2);
    for (let step = 0; step < 50; step++) {
      timer.advance(7);
    }
    stopA();
    stopB();
    assert.deepEqual(
      a,
      a.map((_, i) => i),
    );
    assert.deepEqual(
      b,
      b.map((_, i) => i),
    );
    // 380 ms after it started, A has had frames 0..19; B, started 30 ms later, 0..17: each call keeps the 20 ms
    // phase of its own start, frame 0 at once.
    assert.equal(a.length, 20);
    assert.equal(b.length, 18);
    assert.deepEqual(
      bTimes.slice(0, 4),
      [1030, 1050, 1070, 1090],
      "B's frames every 20 ms from its own start, not on A's",
    );
  });

  it('after a long stall each call skips to its recent frames instead of bursting, and no index repeats', () => {
    const timer = handTimer();
    const clock = createSharedFrameClock(timer);
    const a: number[] = [];
    const b: number[] = [];
    clock.start((i) => a.push(i));
    timer.advance(40);
    clock.start((i) => b.push(i));
    timer.advance(20);
    const aBefore = a.length;
    const bBefore = b.length;
    // The event loop is blocked for 300 ms (15 frames): the timer fires late, once.
    timer.stall(300);
    timer.advance(0);
    assert.deepEqual(a.slice(aBefore), [13, 14, 15, 16, 17, 18], 'the frame due now and five owed, no more');
    assert.deepEqual(b.slice(bBefore), [11, 12, 13, 14, 15, 16], "B's frames skip on B's own count");
    assert.equal(new Set(a).size, a.length);
    assert.equal(new Set(b).size, b.length);
  });

  it('a call whose tick throws does not cost the others their frame, and the error still surfaces', () => {
    const timer = handTimer();
    const clock = createSharedFrameClock(timer);
    const heard: number[] = [];
    clock.start((i) => {
      if (i === 2) {
        throw new Error('boom');
      }
    });
    clock.start((i) => heard.push(i));
    assert.throws(() => timer.advance(60), /boom/);
    timer.advance(40);
    assert.deepEqual(heard, [0, 1, 2, 3, 4]);
  });

  it('stops its timer when the last call stops; a call started later counts from 0 on its own phase', () => {
    const timer = handTimer();
    const clock = createSharedFrameClock(timer);
    const stop = clock.start(() => undefined);
    timer.advance(50);
    stop();
    assert.equal(timer.pending, 0);
    assert.equal(clock.size, 0);
    timer.advance(13);
    const again: number[] = [];
    clock.start((i) => again.push(i));
    timer.advance(40);
    assert.deepEqual(again, [0, 1, 2]);
  });
});
