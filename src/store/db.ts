// The one seam between our SQL and a database engine. Queries are written once with
// $1-style parameters and portable SQL; each driver adapts them to its engine.
export type Dialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | null;

export interface Db {
  readonly dialect: Dialect;
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement and answers how many rows it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs fn in one transaction; every statement inside must go through the given Db. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Thrown when the database cannot be reached; the HTTP layer answers 503. */
export class StoreUnavailableError extends Error {}

/** `FOR UPDATE` where the engine has row locks; SQLite serialises whole transactions instead. */
export function forUpdate(db: Db): string {
  return db.dialect === 'postgres' ? ' FOR UPDATE' : '';
}
