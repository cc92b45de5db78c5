// Whether the store takes writes now, for /readyz. A read alone is not enough: a full disk still answers reads.
// Two signals: a write probe (shared by concurrent checks and run at most once per PROBE_EVERY_MS, so probes cannot
// load the store), and the requests that failed because the store could not take them:
// - capacity (disk full, I/O, read-only): not ready for FAILURE_HOLD_MS, since a full disk may still let the probe's
//   one-row update through (SQLite rewrites WAL space it already has) while new rows fail;
// - connection (the database gone or restarting): not ready until a probe made after the failure succeeds — the
//   probe sees a lost connection exactly, so readiness comes back with the database;
// - contention (one lock or statement timeout, a deadlock): that request's problem, not the instance's.
import type { Db } from './db.ts';
import { writeHeartbeat } from './heartbeat.ts';
import { type StoreFailureKind, storeFailureKind } from './unavailable.ts';

const PROBE_EVERY_MS = 1_000;
/** After a request failed for lack of capacity, report not ready this long (again from each new failure). */
const FAILURE_HOLD_MS = 5_000;

export class StoreReadiness {
  readonly #db: Db;
  readonly #now: () => number;
  #capacityFailureAt = Number.NEGATIVE_INFINITY;
  #connectionFailureAt = Number.NEGATIVE_INFINITY;
  #probe: { at: number; result: Promise<boolean> } | null = null;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** A request failed because the store could not take it. */
  noteFailure(kind: StoreFailureKind): void {
    if (kind === 'capacity') {
      this.#capacityFailureAt = this.#now();
    } else if (kind === 'connection') {
      this.#connectionFailureAt = this.#now();
    }
  }

  async isReady(): Promise<boolean> {
    const now = this.#now();
    // A probe older than the last lost connection says nothing about the connection now.
    if (!this.#probe || now - this.#probe.at >= PROBE_EVERY_MS || this.#probe.at <= this.#connectionFailureAt) {
      this.#probe = { at: now, result: this.#runProbe() };
    }
    const probed = await this.#probe.result;
    return probed && this.#now() - this.#capacityFailureAt >= FAILURE_HOLD_MS;
  }

  async #runProbe(): Promise<boolean> {
    try {
      await writeHeartbeat(this.#db, new Date(this.#now()).toISOString());
      return true;
    } catch (error) {
      // The probe's own disk-full failure holds too: space for one row is not space for the next request's rows.
      if (storeFailureKind(error) === 'capacity') {
        this.noteFailure('capacity');
      }
      return false;
    }
  }
}
