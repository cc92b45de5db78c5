// Processes on one PostgreSQL compare times that other processes wrote: media heartbeats, action-slot and delivery
// leases, idempotency locks. Hosts whose clocks disagree misread them (a host 30 s ahead sees every other process's
// fresh heartbeat as stale and ends its calls as media_lost), so every process reads the time as the database's:
// its own clock plus the offset to the database's, measured at start and again every minute.
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../clock.ts';
import type { Db } from './db.ts';

const REFRESH_MS = 60_000;
// Until the first reading, tried again this soon: a skewed host meanwhile misreads every other process's times.
const RETRY_MS = 2000;
const SAMPLES = 3;
// Smaller changes are the measurement's own noise (half a round trip): the time does not wobble by them.
const MIN_CHANGE_MS = 10;
const WARN_OFFSET_MS = 1000;

export interface DatabaseClockOptions {
  logger: Logger;
  /** This host's clock, ms since the epoch (tests skew it). */
  localNow?: () => number;
  refreshMs?: number;
  retryMs?: number;
}

export class DatabaseClock implements Clock {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #localNow: () => number;
  readonly #refreshMs: number;
  readonly #retryMs: number;
  #offsetMs = 0;
  #measured = false;
  #stopped = false;
  #warned = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(db: Db, opts: DatabaseClockOptions) {
    this.#db = db;
    this.#logger = opts.logger;
    this.#localNow = opts.localNow ?? Date.now;
    this.#refreshMs = opts.refreshMs ?? REFRESH_MS;
    this.#retryMs = opts.retryMs ?? RETRY_MS;
  }

  /** A clock measured once against the database and kept measured until stop(). */
  static async start(db: Db, opts: DatabaseClockOptions): Promise<DatabaseClock> {
    const clock = new DatabaseClock(db, opts);
    await clock.measure().catch((err: Error) => {
      opts.logger.warn({ err: err.message }, 'could not read the database clock: using this host’s until it answers');
    });
    clock.#schedule();
    return clock;
  }

  #schedule(): void {
    if (this.#stopped) {
      return;
    }
    this.#timer = setTimeout(
      () => {
        this.measure()
          .catch((err: Error) => this.#logger.debug({ err: err.message }, 'database clock not measured'))
          .finally(() => this.#schedule());
      },
      this.#measured ? this.#refreshMs : this.#retryMs,
    );
    this.#timer.unref();
  }

  now(): Date {
    return new Date(this.#localNow() + this.#offsetMs);
  }

  /** The database's clock minus this host's, ms. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** Reads the database's clock a few times and keeps the reading with the shortest round trip. */
  async measure(): Promise<void> {
    let best: { rtt: number; offset: number } | null = null;
    for (let i = 0; i < SAMPLES; i++) {
      const sent = this.#localNow();
      const [row] = await this.#db.query<{ ms: number | string }>(
        'SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::float8 AS ms',
      );
      const received = this.#localNow();
      const rtt = received - sent;
      const offset = Number(row?.ms) - (sent + received) / 2;
      if (Number.isFinite(offset) && (best === null || rtt < best.rtt)) {
        best = { rtt, offset };
      }
    }
    if (best === null) {
      throw new Error('the database answered no time');
    }
    if (Math.abs(best.offset - this.#offsetMs) >= MIN_CHANGE_MS) {
      this.#offsetMs = Math.round(best.offset);
    }
    this.#measured = true;
    const off = Math.abs(this.#offsetMs) >= WARN_OFFSET_MS;
    if (off && !this.#warned) {
      this.#logger.warn(
        { offsetMs: this.#offsetMs },
        'this host’s clock is more than a second off the database’s: callgate reads the time as the database’s (synchronise the host’s clock)',
      );
    }
    this.#warned = off;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

/** The clock a process uses with this store: the database's on PostgreSQL; on SQLite every process is on one host. */
export async function storeClock(db: Db, logger: Logger): Promise<Clock & { stop(): void }> {
  if (db.dialect === 'postgres') {
    return DatabaseClock.start(db, { logger });
  }
  return { now: () => systemClock.now(), stop: () => undefined };
}
