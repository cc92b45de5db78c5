import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Db, SqlValue } from './db.ts';

// node:sqlite is synchronous: one connection, and transactions are serialised by a
// promise chain so that two async transactions never interleave their statements.
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, opts: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    // FULL (default): a commit is on disk before we answer, so nothing acknowledged is lost even on power loss.
    // NORMAL (WAL): no fsync per commit; survives a process crash (kill -9), not an OS crash or power loss.
    this.#db.exec(`PRAGMA synchronous = ${opts.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
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

  async query<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#prepare(sql).all(...params) as T[];
  }

  /** Outside a transaction, writes wait for the running one so they can never be rolled back with it. */
  execute(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#serial(async () => this.#run(sql, params));
  }

  #run(sql: string, params: readonly SqlValue[]): number {
    return Number(this.#prepare(sql).run(...params).changes);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(fn, fn);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  exec(script: string): void { this.#db.exec(script); }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#inTransaction);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  // Inside a transaction the queue is already held: nested calls run directly.
  readonly #inTransaction: Db = {
    dialect: 'sqlite',
    query: (sql, params) => this.query(sql, params),
    execute: async (sql, params = []) => this.#run(sql, params),
    transaction: (fn) => fn(this.#inTransaction),
    close: async () => undefined,
  };

  async close(): Promise<void> {
    await this.#queue;
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
