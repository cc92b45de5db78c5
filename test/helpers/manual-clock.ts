// A clock tests move by hand.
import type { Clock } from '../../src/clock.ts';

export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date | number = Date.UTC(2026, 6, 3, 15, 0, 0)) {
    this.#ms = +start;
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
}
