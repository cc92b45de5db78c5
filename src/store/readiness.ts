// Whether the store takes writes now, for /readyz. A read alone is not enough: a full disk still answers reads.
// Two signals: a write probe (shared by concurrent checks and run at most once per PROBE_EVERY_MS, so probes cannot
// load the store), and the last request that failed because the store could not take it — a full disk may still
// let the probe's one-row update through (SQLite rewrites WAL space it already has) while new rows fail.
import type { Db } from './db.ts';
import { writeHeartbeat } from './heartbeat.ts';

const PROBE_EVERY_MS = 1_000;
/** After a request failed on the store, report not ready this long (again from each new failure). */
const FAILURE_HOLD_MS = 5_000;

export class StoreReadiness {
  readonly #db: Db;
  readonly #now: () => number;
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  #probe: { at: number; result: Promise<boolean> } | null = null;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** A request failed because the store could not take it. */
  noteFailure(): void {
    this.#lastFailureAt = this.#now();
  }

  async isReady(): Promise<boolean> {
    const now = this.#now();
    if (!this.#probe || now - this.#probe.at >= PROBE_EVERY_MS) {
      this.#probe = { at: now, result: this.#runProbe() };
    }
    const probed = await this.#probe.result;
    return probed && this.#now() - this.#lastFailureAt >= FAILURE_HOLD_MS;
  }

  async #runProbe(): Promise<boolean> {
    try {
      await writeHeartbeat(this.#db, new Date(this.#now()).toISOString());
      return true;
    } catch {
      this.noteFailure();
      return false;
    }
  }
}
