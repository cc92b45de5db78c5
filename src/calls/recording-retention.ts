// RECORDING_RETENTION_DAYS: a recording's file is deleted that many days after it finished, and the call keeps
// `recording.status: "deleted"`, as after DELETE /v1/calls/{id}/recording. Recordings are the largest and most
// personal thing callgate keeps; an operator bound by a retention policy should not have to script it.
// Each API process expires what is in its own RECORDINGS_DIR (the files are only there); processes sharing one
// directory may race on a file, which the conditional update settles.
import { resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { FailureLog } from '../failure-log.ts';
import { recordingsVolume } from '../media/engine/recordings-volume.ts';
import { type FinishedRecordingRow, listRecordingsFinishedBefore, markRecordingExpired } from '../store/call-media.ts';
import type { Db } from '../store/db.ts';
import { removeRecordingFile } from './recordings.ts';

const DAY_MS = 86_400_000;
/** Retention is counted in days: looking every ten minutes keeps a file at most that much past its time. */
const PASS_INTERVAL_MS = 10 * 60_000;
const PAGE = 100;

export interface RecordingRetentionDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  recordingsDir: string;
  retentionDays: number;
}

export class RecordingRetention {
  readonly #d: RecordingRetentionDeps;
  readonly #failures: FailureLog;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  /** Set by stop(): a pass under way ends at its next recording (the rest are due at the next start). */
  #stopping = false;

  constructor(deps: RecordingRetentionDeps) {
    this.#d = deps;
    this.#failures = new FailureLog(
      deps.logger,
      { failed: 'expiring recordings failed', recovered: 'expiring recordings works again' },
      () => deps.clock.now().getTime(),
    );
  }

  start(): void {
    if (this.#timer) {
      return;
    }
    this.#stopping = false;
    const tick = () => {
      this.#running ??= this.expireOnce()
        .then(
          () => this.#failures.ok(),
          (err) => this.#failures.failed(err),
        )
        .finally(() => {
          this.#running = null;
        });
    };
    tick();
    this.#timer = setInterval(tick, PASS_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Ends the loop, and a pass under way at its next recording: shutdown awaits this before it closes the media of
   * live calls, and a first pass over years of recordings (or a slow disk) must not hold that past the deadline.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    await this.#running;
  }

  /** One pass over every recording due: deletes the files here and marks them deleted; answers how many. */
  async expireOnce(): Promise<number> {
    const now = this.#d.clock.now();
    const cutoff = new Date(now.getTime() - this.#d.retentionDays * DAY_MS).toISOString();
    const dir = resolve(this.#d.recordingsDir);
    const volume = recordingsVolume(this.#d.recordingsDir, false);
    let deleted = 0;
    let after: FinishedRecordingRow | null = null;
    for (;;) {
      const page = await listRecordingsFinishedBefore(this.#d.db, cutoff, volume, PAGE, after);
      for (const row of page) {
        if (this.#stopping) {
          return this.#logDeleted(deleted);
        }
        // Made before directory ids were kept: only the process whose directory holds the path removes it.
        if (row.volume === null && !resolve(row.path).startsWith(dir + sep)) {
          continue;
        }
        if (
          (await this.#removeFile(row)) &&
          (await markRecordingExpired(this.#d.db, row.callId, row, now.toISOString()))
        ) {
          deleted++;
        }
      }
      if (page.length < PAGE) {
        break;
      }
      after = page[page.length - 1] ?? null;
    }
    return this.#logDeleted(deleted);
  }

  #logDeleted(deleted: number): number {
    if (deleted > 0) {
      this.#d.logger.info(
        { count: deleted, retentionDays: this.#d.retentionDays },
        'recordings past RECORDING_RETENTION_DAYS deleted',
      );
    }
    return deleted;
  }

  /** Whether no file is left to serve: removed now, or already gone. */
  async #removeFile(row: FinishedRecordingRow): Promise<boolean> {
    try {
      await removeRecordingFile(row.path);
      return true;
    } catch (error) {
      this.#d.logger.warn(
        { callId: row.callId, err: (error as Error).message },
        'recording past RECORDING_RETENTION_DAYS not deleted; tried again at the next pass',
      );
      return false;
    }
  }
}
