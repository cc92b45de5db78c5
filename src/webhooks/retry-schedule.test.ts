import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_RETRY_SCHEDULE_MS, nextAttemptDelayMs, parseRetryAfter } from './retry-schedule.ts';

const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;

// random() = 0.5 means no jitter; 0 is the -20% edge, just under 1 the +20% edge.
const noJitter = () => 0.5;

describe('DEFAULT_RETRY_SCHEDULE_MS', () => {
  test('is the spec schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h', () => {
    assert.deepEqual(DEFAULT_RETRY_SCHEDULE_MS, [
      0,
      5 * S,
      5 * MIN,
      30 * MIN,
      2 * H,
      5 * H,
      10 * H,
      14 * H,
      20 * H,
      24 * H,
    ]);
  });

  test('spans about three days', () => {
    const total = DEFAULT_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    assert.ok(total > 3 * 24 * H && total < 3.5 * 24 * H, `total ${total / H} h`);
  });

  test('cannot be changed by a caller', () => {
    assert.throws(() => (DEFAULT_RETRY_SCHEDULE_MS as number[]).push(1));
  });
});

describe('nextAttemptDelayMs', () => {
  type Row = {
    name: string;
    input: Omit<Parameters<typeof nextAttemptDelayMs>[0], 'schedule'> & { schedule?: readonly number[] };
    expected: number | null;
  };
  const rows: Row[] = [
    { name: 'after attempt 1 the next waits 5 s', input: { attempt: 1, random: noJitter }, expected: 5 * S },
    { name: 'after attempt 2 the next waits 5 min', input: { attempt: 2, random: noJitter }, expected: 5 * MIN },
    { name: 'after attempt 9 the last waits 24 h', input: { attempt: 9, random: noJitter }, expected: 24 * H },
    { name: 'after the last attempt we give up', input: { attempt: 10, random: noJitter }, expected: null },
    { name: 'far past the end we give up', input: { attempt: 50, random: noJitter }, expected: null },
    { name: 'jitter can shorten by 20%', input: { attempt: 3, random: () => 0 }, expected: 24 * MIN },
    { name: 'jitter can lengthen by up to 20%', input: { attempt: 3, random: () => 1 }, expected: 36 * MIN },
    {
      name: 'Retry-After longer than the schedule wins',
      input: { attempt: 1, retryAfterSeconds: 120, random: noJitter },
      expected: 120 * S,
    },
    {
      name: 'Retry-After shorter than the schedule does not shorten it',
      input: { attempt: 2, retryAfterSeconds: 10, random: noJitter },
      expected: 5 * MIN,
    },
    {
      name: 'Retry-After of 0 does not shorten the schedule',
      input: { attempt: 1, retryAfterSeconds: 0, random: noJitter },
      expected: 5 * S,
    },
    {
      name: 'Retry-After is capped at 24 h',
      input: { attempt: 1, retryAfterSeconds: 7 * 24 * 3600, random: noJitter },
      expected: 24 * H,
    },
    {
      name: 'a null Retry-After is ignored',
      input: { attempt: 1, retryAfterSeconds: null, random: noJitter },
      expected: 5 * S,
    },
    {
      name: 'a NaN Retry-After is ignored',
      input: { attempt: 1, retryAfterSeconds: Number.NaN, random: noJitter },
      expected: 5 * S,
    },
    {
      name: 'a negative Retry-After is ignored',
      input: { attempt: 1, retryAfterSeconds: -30, random: noJitter },
      expected: 5 * S,
    },
    // Floor after a timeout or 429: jitter may not take the 5 s step below 5 s.
    {
      name: 'after a timeout jitter cannot go under 5 s',
      input: { attempt: 1, timedOut: true, random: () => 0 },
      expected: 5 * S,
    },
    {
      name: 'after a 429 jitter cannot go under 5 s',
      input: { attempt: 1, rateLimited: true, random: () => 0 },
      expected: 5 * S,
    },
    {
      name: 'without a timeout or 429 jitter can go under 5 s',
      input: { attempt: 1, random: () => 0 },
      expected: 4 * S,
    },
    {
      name: 'a short custom schedule is lifted to 5 s after a timeout',
      input: { attempt: 1, schedule: [0, 1 * S, 1 * MIN], timedOut: true, random: noJitter },
      expected: 5 * S,
    },
    {
      name: 'a short custom schedule keeps its 1 s step without a timeout',
      input: { attempt: 1, schedule: [0, 1 * S, 1 * MIN], random: noJitter },
      expected: 1 * S,
    },
    {
      name: 'a fast test schedule stays fast after a timeout (floor capped at its longest step)',
      input: { attempt: 1, schedule: [0, 10, 10], timedOut: true, random: () => 0 },
      expected: 10,
    },
    {
      name: 'a fast test schedule stays fast after a 429',
      input: { attempt: 2, schedule: [0, 10, 10], rateLimited: true, random: noJitter },
      expected: 10,
    },
    {
      name: 'a fast test schedule gives up at its end',
      input: { attempt: 3, schedule: [0, 10, 10], random: noJitter },
      expected: null,
    },
    {
      name: 'an all-zero schedule stays zero after a timeout',
      input: { attempt: 1, schedule: [0, 0, 0], timedOut: true },
      expected: 0,
    },
    {
      name: 'a 429 with Retry-After waits the Retry-After',
      input: { attempt: 1, rateLimited: true, retryAfterSeconds: 60, random: noJitter },
      expected: 60 * S,
    },
    {
      name: 'Retry-After still applies on a fast test schedule',
      input: { attempt: 1, schedule: [0, 10, 10], retryAfterSeconds: 1, random: noJitter },
      expected: 1 * S,
    },
  ];
  for (const { name, input, expected } of rows) {
    test(name, () => {
      assert.equal(nextAttemptDelayMs({ schedule: DEFAULT_RETRY_SCHEDULE_MS, ...input }), expected);
    });
  }

  test('jitter stays within ±20% of the scheduled delay', () => {
    for (let i = 0; i < 1_000; i++) {
      const delay = nextAttemptDelayMs({ attempt: 4, schedule: DEFAULT_RETRY_SCHEDULE_MS })!;
      assert.ok(delay >= 2 * H * 0.8 && delay <= 2 * H * 1.2, `${delay}`);
    }
  });

  test('an attempt count below 1 is a programming error', () => {
    assert.throws(() => nextAttemptDelayMs({ attempt: 0, schedule: DEFAULT_RETRY_SCHEDULE_MS }), RangeError);
    assert.throws(() => nextAttemptDelayMs({ attempt: 1.5, schedule: DEFAULT_RETRY_SCHEDULE_MS }), RangeError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 6, 3, 15, 0, 0); // Fri, 03 Jul 2026 15:00:00 GMT
  const rows: [header: string | undefined | null, expected: number | null][] = [
    ['120', 120],
    ['0', 0],
    ['  30 ', 30],
    ['99999999999', 99999999999], // huge but numeric: the caller clamps
    ['Fri, 03 Jul 2026 15:02:00 GMT', 120], // IMF-fixdate
    ['Friday, 03-Jul-26 15:00:30 GMT', 30], // obsolete RFC 850 form
    ['Fri Jul  3 15:01:00 2026', 60], // obsolete asctime form
    ['Fri, 03 Jul 2026 14:00:00 GMT', 0], // in the past: retry now
    ['Fri, 03 Jul 2026 15:00:00 GMT', 0],
    [undefined, null],
    [null, null],
    ['', null],
    ['soon', null],
    ['-5', null],
    ['1.5', null],
    ['12abc', null],
    ['0x10', null],
    ['Fri, 31 Feb 2026 15:00:00 GMT', null], // no such day
    ['Fri, 03 Jul 2026 25:00:00 GMT', null],
    ['2026-07-03T15:02:00Z', null], // ISO is not an HTTP-date
    ['Fri, 03 Jul 2026 15:02:00 +0000', null],
    ['hello 2026', null], // Date.parse would accept this
  ];
  for (const [header, expected] of rows) {
    test(`${JSON.stringify(header)} gives ${expected}`, () => {
      assert.equal(parseRetryAfter(header, now), expected);
    });
  }
});
