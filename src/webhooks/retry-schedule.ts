// When to try a webhook delivery again. The schedule is data; this module is the small pure policy
// around it: jitter, Retry-After, and a floor after timeouts and 429s.

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delay before attempt 1..N (index 0 = the first attempt). Sums to about 3 days, as the spec asks. */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  0,
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
]);

/**
 * How long a paused webhook holds a delivery before it fails: the retry schedule's whole span (what a failing
 * receiver would have been given), and never less than a day, so a short schedule does not make a pause drop events.
 */
export function holdSpanMs(schedule: readonly number[]): number {
  return Math.max(
    schedule.reduce((sum, ms) => sum + ms, 0),
    24 * HOUR,
  );
}

const JITTER = 0.2; // ±20%: spreads retries of a burst of failures so a recovering receiver is not stampeded
const MAX_RETRY_AFTER_MS = 24 * HOUR; // a receiver cannot park our deliveries beyond the retry window
const BUSY_FLOOR_MS = 5 * SECOND;

/**
 * Milliseconds to wait before the next attempt, or null when the schedule is exhausted (give up).
 *
 * - `attempt` is the number of attempts already made (>= 1), so the answer is schedule[attempt], jittered.
 * - Retry-After is honoured as "not before": it can lengthen the wait (up to 24 h) but never shorten
 *   it below the schedule, so `Retry-After: 0` cannot make us hammer a failing receiver.
 * - After a timeout or a 429 the receiver is busy, so the wait is at least 5 s. The floor is capped at
 *   the longest delay the schedule itself contains: a production schedule always gets the full 5 s,
 *   while a test schedule such as [0, 10, 10] ms (longest step 10 ms) stays fast, and an all-zero
 *   schedule stays all zeros. The schedule's author has thereby said how long a wait they accept.
 */
export function nextAttemptDelayMs(p: {
  attempt: number;
  schedule: readonly number[];
  retryAfterSeconds?: number | null;
  timedOut?: boolean;
  rateLimited?: boolean;
  random?: () => number;
}): number | null {
  if (!Number.isInteger(p.attempt) || p.attempt < 1) {
    throw new RangeError(`attempt must be an integer >= 1, got ${p.attempt}`);
  }
  const scheduled = p.schedule[p.attempt];
  if (scheduled === undefined) {
    return null;
  }

  const random = p.random ?? Math.random;
  let delay = scheduled * (1 + JITTER * (2 * random() - 1));

  const retryAfter = p.retryAfterSeconds;
  if (retryAfter != null && Number.isFinite(retryAfter) && retryAfter > 0) {
    delay = Math.max(delay, Math.min(retryAfter * SECOND, MAX_RETRY_AFTER_MS));
  }

  if (p.timedOut || p.rateLimited) {
    const floor = Math.min(BUSY_FLOOR_MS, Math.max(0, ...p.schedule));
    delay = Math.max(delay, floor);
  }

  return Math.round(delay);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The three HTTP-date forms a recipient must accept (RFC 9110 §5.6.7).
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

function utcMs(year: number, month: string, day: number, h: number, m: number, s: number): number | null {
  const monthIndex = MONTHS.indexOf(month);
  if (h > 23 || m > 59 || s > 60) {
    return null; // 60: leap second
  }
  const ms = Date.UTC(year, monthIndex, day, h, m, Math.min(s, 59));
  // Date.UTC rolls "31 Feb" over into March; a date that does not round-trip is garbage.
  const d = new Date(ms);
  return d.getUTCFullYear() === year && d.getUTCMonth() === monthIndex && d.getUTCDate() === day ? ms : null;
}

function parseHttpDate(value: string, nowMs: number): number | null {
  let m = IMF_FIXDATE.exec(value);
  if (m) {
    return utcMs(Number(m[3]), m[2] ?? '', Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME_DATE.exec(value);
  if (m) {
    return utcMs(Number(m[6]), m[1] ?? '', Number((m[2] ?? '').trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  }
  m = RFC850_DATE.exec(value);
  if (m) {
    // Two-digit year: RFC 9110 says pick the century that does not put the date over 50 years ahead.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) {
      year -= 100;
    }
    return utcMs(year, m[2] ?? '', Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  return null;
}

/**
 * Retry-After as whole seconds from `nowMs`: delta-seconds or an HTTP-date (a past date gives 0).
 * Anything else gives null, so a malformed header is ignored rather than guessed at.
 */
export function parseRetryAfter(header: string | undefined | null, nowMs: number): number | null {
  if (header == null) {
    return null;
  }
  const value = header.trim();
  if (/^\d+$/.test(value)) {
    const seconds = Number(value); // huge values stay huge (the caller clamps); only overflow is garbage
    return Number.isFinite(seconds) ? seconds : null;
  }
  const at = parseHttpDate(value, nowMs);
  if (at === null) {
    return null;
  }
  return Math.max(0, Math.ceil((at - nowMs) / SECOND));
}
