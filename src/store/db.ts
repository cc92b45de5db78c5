// The one seam between our SQL and a database engine. Queries are written once with
// $1-style parameters and portable SQL; each driver adapts them to its engine.
export type Dialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | null;

export interface Db {
  readonly dialect: Dialect;
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement and answers how many rows it changed. */
  execute(sql: string, params?: readonly SqlValue[], opts?: ExecuteOptions): Promise<number>;
  /** Runs fn in one transaction; every statement inside must go through the given Db. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface ExecuteOptions {
  /**
   * false: answer once the change is committed (visible to every process), without waiting for it to reach the
   * disk. Only for a change that is never acknowledged by itself and that a durable write made afterwards covers
   * (the log is written in order), e.g. taking the action slot before the provider request. Default true.
   */
  durable?: boolean;
}

/**
 * Runs in the transaction that stores a new object, once it is stored: the creating request's Idempotency-Key answer
 * is written there, so the object and that answer commit together.
 */
export type OnStored<T> = (tx: Db, stored: T) => Promise<void>;

/** Thrown when the database cannot be reached; the HTTP layer answers 503. */
export class StoreUnavailableError extends Error {}

/** `FOR UPDATE` where the engine has row locks; SQLite serialises whole transactions instead. */
export function forUpdate(db: Db): string {
  return db.dialect === 'postgres' ? ' FOR UPDATE' : '';
}

/** A foreign key refused the write, in either engine's words: the row it names is gone. */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | null | undefined;
  return (
    e?.code === '23503' || e?.cause?.code === '23503' || /FOREIGN KEY constraint failed/.test(String(e?.message ?? ''))
  );
}

/** A unique constraint refused the write, in either engine's words: the row already exists. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  return e?.code === '23505' || /UNIQUE constraint failed/.test(String(e?.message ?? ''));
}
