import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, fdatasync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { type Db, type ExecuteOptions, type SqlValue, StoreUnavailableError } from './db.ts';

interface Job {
  /** A single statement runs synchronously and needs no savepoint: SQLite undoes a failed statement by itself. */
  statement?: () => unknown;
  transaction?: () => Promise<unknown>;
  /** false: answered at COMMIT, before the log sync (Db.execute's `durable`). */
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
type SyncLog = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

export interface SqliteDbOptions {
  /** FULL (default): a commit is on disk before it is answered. NORMAL: it survives a crash, not a power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Replaces fs.fdatasync for the WAL sync. Only fault tests pass one: a real disk cannot be made to fail or hold
   * an fsync on demand, and what the store does then (answer nothing, fail-stop) must be tested.
   */
  fdatasync?: SyncLog;
}
type Outcome = { job: Job; ok: true; value: unknown } | { job: Job; ok: false; error: unknown };

function settle(outcomes: Outcome[]): void {
  for (const o of outcomes) {
    if (o.ok) {
      o.job.resolve(o.value);
    } else {
      o.job.reject(o.error);
    }
  }
}

/** A commit group closes after this many jobs or this long, whichever comes first. */
const GROUP_MAX_JOBS = 512;
const GROUP_MAX_MS = 4;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const shortWait = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

// node:sqlite is synchronous: one connection, every statement goes through one queue of jobs.
//
// Group commit: the jobs that arrive while one runs share its transaction, each in its own SAVEPOINT (a job
// that fails rolls back alone), and the group ends with one COMMIT — one WAL append for all of them. No job's
// promise settles before that COMMIT is durable (except a write its caller marked `durable: false`, see db.ts), so
// nothing is acknowledged, and no read is returned, before it is on disk: a reader never sees another request's
// uncommitted (or not yet synced) rows.
//
// Durability FULL without blocking the event loop: SQLite runs with synchronous=NORMAL (no sync inside COMMIT;
// checkpoints still sync the WAL before copying it and the database after), and after each COMMIT we fdatasync the
// WAL on libuv's thread pool — what synchronous=FULL would do inside COMMIT — and settle the group's jobs when it
// returns. Groups that commit while a sync runs share the next one.
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #jobs: Job[] = [];
  /** Set inside a running job: its own calls on this Db run in place instead of queueing behind itself. */
  readonly #inJob = new AsyncLocalStorage<true>();
  #draining = false;
  // Moving averages (ms) of the time between two jobs arriving and of a COMMIT: when jobs come faster than a
  // commit takes, a group waits a little for the next ones (like PostgreSQL's commit_delay), so a steady
  // load pays one commit for several jobs instead of one each.
  #arrivalGapMs = 1_000;
  #commitMs = 0;
  #lastArrival = 0;
  /** The open group has run a write: reads must queue behind its COMMIT. */
  #uncommittedWrites = false;
  readonly #walPath: string;
  readonly #syncWal: boolean;
  #walFd: number | null = null;
  /** Committed groups waiting for the WAL sync, whether one is running, and how many groups are not yet synced. */
  #awaitingSync: Outcome[][] = [];
  #syncing = false;
  #unsyncedGroups = 0;
  /** Set when a WAL sync failed: what was committed may not be on disk, so nothing more is acknowledged. */
  #broken: Error | null = null;

  readonly #syncLog: SyncLog;

  constructor(path: string, opts: SqliteDbOptions = {}) {
    this.#syncLog = opts.fdatasync ?? fdatasync;
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#walPath = `${path}-wal`;
    // FULL (default): a commit is on disk before we answer, so nothing acknowledged is lost even on power loss
    // (our own WAL sync, above). NORMAL: no sync per commit; survives a process crash (kill -9), not an OS crash.
    this.#syncWal = opts.synchronous !== 'NORMAL';
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql.replace(/\$(\d+)/g, '?$1'));
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #all<T>(sql: string, params: readonly SqlValue[]): T[] {
    return this.#prepare(sql).all(...params) as T[];
  }

  #run(sql: string, params: readonly SqlValue[]): number {
    return Number(this.#prepare(sql).run(...params).changes);
  }

  query<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    if (this.#inJob.getStore()) {
      return this.#inTransaction.query<T>(sql, params);
    }
    // Nothing uncommitted on the connection: the read sees committed rows only, so it need not wait for a commit.
    if (!this.#uncommittedWrites && this.#unsyncedGroups === 0 && !this.#broken) {
      return this.#inTransaction.query<T>(sql, params);
    }
    return this.#enqueue({ statement: () => this.#all<T>(sql, params) });
  }

  execute(sql: string, params: readonly SqlValue[] = [], opts: ExecuteOptions = {}): Promise<number> {
    if (this.#inJob.getStore()) {
      return this.#inTransaction.execute(sql, params);
    }
    return this.#enqueue(
      {
        statement: () => {
          this.#uncommittedWrites = true;
          return this.#run(sql, params);
        },
      },
      opts.durable !== false,
    );
  }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    // Called from inside a running job (through this Db rather than its tx): already in the transaction.
    if (this.#inJob.getStore()) {
      return fn(this.#inTransaction);
    }
    return this.#enqueue({
      transaction: () => {
        this.#uncommittedWrites = true;
        return fn(this.#inTransaction);
      },
    });
  }

  /** Runs outside the queue: start-up scripts only. */
  exec(script: string): void {
    this.#db.exec(script);
  }

  #enqueue<T>(work: Pick<Job, 'statement' | 'transaction'>, durable = true): Promise<T> {
    const now = performance.now();
    this.#arrivalGapMs += (Math.min(now - this.#lastArrival, 1_000) - this.#arrivalGapMs) / 16;
    this.#lastArrival = now;
    if (this.#broken) {
      return Promise.reject(this.#broken);
    }
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ ...work, durable, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        void this.#drain();
      }
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    for (;;) {
      if (this.#jobs.length === 0) {
        // Cleared in the same tick the queue is seen empty: the next job queued starts a new drain.
        this.#draining = false;
        return;
      }
      try {
        this.#control('BEGIN IMMEDIATE');
      } catch (error) {
        // The write lock stayed with another process past busy_timeout: this job fails, the next tries again.
        this.#jobs.shift()?.reject(error);
        continue;
      }
      await this.#group();
    }
  }

  /** Runs queued jobs in the open transaction until the queue stays empty for a turn of the event loop, then commits. */
  async #group(): Promise<void> {
    const outcomes: Outcome[] = [];
    try {
      const started = performance.now();
      const full = () => outcomes.length >= GROUP_MAX_JOBS || performance.now() - started >= GROUP_MAX_MS;
      for (;;) {
        const job = this.#jobs.shift();
        if (!job) {
          // Let requests that are already readable enqueue their work: they join this commit.
          if (full()) {
            break;
          }
          await nextTurn();
          if (this.#jobs.length === 0 && this.#arrivalGapMs < this.#commitMs) {
            await shortWait();
          }
          if (this.#jobs.length === 0) {
            break;
          }
          continue;
        }
        outcomes.push(
          job.statement
            ? this.#runStatement(job, job.statement)
            : await this.#runInSavepoint(job, job.transaction as NonNullable<typeof job.transaction>),
        );
        // SQLite rolled the whole transaction back (e.g. disk full): every job of the group failed with it.
        if (!this.#db.isTransaction) {
          throw (outcomes.at(-1) as { error?: unknown }).error ?? new Error('SQLite transaction rolled back');
        }
        if (full()) {
          break;
        }
      }
      const commitStarted = performance.now();
      this.#control('COMMIT');
      this.#commitMs += (performance.now() - commitStarted - this.#commitMs) / 16;
      this.#uncommittedWrites = false;
    } catch (error) {
      if (this.#db.isTransaction) {
        this.#control('ROLLBACK');
      }
      this.#uncommittedWrites = false;
      for (const o of outcomes) {
        o.job.reject(o.ok ? error : o.error);
      }
      return;
    }
    if (!this.#syncWal) {
      return settle(outcomes);
    }
    settle(outcomes.filter((o) => o.ok && !o.job.durable));
    const waiting = outcomes.filter((o) => !o.ok || o.job.durable);
    if (waiting.length === 0) {
      return;
    }
    this.#awaitingSync.push(waiting);
    this.#unsyncedGroups += 1;
    this.#syncNext();
  }

  /** One fdatasync of the WAL at a time, covering every group committed before it started. */
  #syncNext(): void {
    if (this.#syncing || this.#awaitingSync.length === 0) {
      return;
    }
    const groups = this.#awaitingSync;
    this.#awaitingSync = [];
    try {
      this.#walFd ??= openSync(this.#walPath, 'r');
    } catch (error) {
      this.#unsyncedGroups -= groups.length;
      this.#syncFailed(groups, error as Error);
      return;
    }
    this.#syncing = true;
    this.#syncLog(this.#walFd, (error) => {
      this.#syncing = false;
      this.#unsyncedGroups -= groups.length;
      if (error) {
        this.#syncFailed(groups, error);
      } else {
        for (const outcomes of groups) {
          settle(outcomes);
        }
      }
      this.#syncNext();
    });
  }

  #syncFailed(groups: Outcome[][], error: Error): void {
    // After a failed sync the kernel may have dropped the dirty pages: fail-stop rather than answer from them.
    this.#broken = new StoreUnavailableError(`the embedded store could not sync its log: ${error.message}`);
    for (const outcomes of groups) {
      for (const o of outcomes) {
        o.job.reject(this.#broken);
      }
    }
    for (const job of this.#jobs.splice(0)) {
      job.reject(this.#broken);
    }
  }

  #runStatement(job: Job, statement: () => unknown): Outcome {
    try {
      return { job, ok: true, value: statement() };
    } catch (error) {
      return { job, ok: false, error };
    }
  }

  async #runInSavepoint(job: Job, transaction: () => Promise<unknown>): Promise<Outcome> {
    let open = false;
    try {
      this.#control('SAVEPOINT job');
      open = true;
      const value = await this.#inJob.run(true, transaction);
      this.#control('RELEASE job');
      return { job, ok: true, value };
    } catch (error) {
      if (open && this.#db.isTransaction) {
        this.#control('ROLLBACK TO job');
        this.#control('RELEASE job');
      }
      return { job, ok: false, error };
    }
  }

  /** Transaction control statements, prepared once like any other. */
  #control(sql: 'BEGIN IMMEDIATE' | 'COMMIT' | 'ROLLBACK' | 'SAVEPOINT job' | 'RELEASE job' | 'ROLLBACK TO job'): void {
    this.#prepare(sql).run();
  }

  // Inside a transaction the job is running: statements run directly, nested transactions are part of it.
  readonly #inTransaction: Db = {
    dialect: 'sqlite',
    query: async (sql, params = []) => this.#all(sql, params),
    execute: async (sql, params = []) => this.#run(sql, params),
    transaction: (fn) => fn(this.#inTransaction),
    close: async () => undefined,
  };

  async close(): Promise<void> {
    while (this.#draining || this.#syncing) {
      await nextTurn();
    }
    if (this.#walFd !== null) {
      closeSync(this.#walFd);
    }
    this.#walFd = null;
    this.#statements.clear();
    if (this.#db.isOpen) {
      this.#db.close();
    }
  }
}
