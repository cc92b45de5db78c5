// The time as a port: the system clock in production; tests move test/helpers/manual-clock.ts by hand.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
