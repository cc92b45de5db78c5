import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Config, ConfigError, postgresLocation } from '../config.ts';
import { makeDirectory } from '../make-directory.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { SqliteDb } from './sqlite-db.ts';

export interface OpenedStore {
  db: Db;
  secretKey: string;
  /** The embedded store's secret.key when this open generated it (its absolute path), else null. */
  generatedSecretKey: string | null;
}

/**
 * The one line said when the embedded store generates its secret.key (never the key): losing that file while
 * keeping the database loses every provider credential sealed with it.
 */
export function generatedSecretKeyLine(path: string): string {
  return (
    `secret key generated at ${path}: back it up with the database, ` +
    "it decrypts the numbers' provider credentials (or set SECRET_KEY)"
  );
}

/** What a store that cannot be opened says to change: the directory or the database server. */
const STORE_ERRORS = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'ENOSPC',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '28P01', // password authentication failed
  '28000', // no such role, or refused by pg_hba
  '3D000', // no such database
]);

/** Connecting or logging in to the PostgreSQL server failed (before any SQL of ours ran). */
class ConnectFailed extends Error {}

/** DATA_DIR or the store's file in it could not be made: whatever the reason (ENOENT under /proc, say), a setting. */
class DataDirFailed extends Error {}

/**
 * A store that cannot be opened for a reason the operator fixes: a ConfigError of one line naming where (never the
 * password) and why. Anything else (a migration that fails, say) is left as it is, with its stack.
 */
function storeUnusable(config: Config, err: NodeJS.ErrnoException): Error {
  const connect = err instanceof ConnectFailed;
  const cause = (connect || err instanceof DataDirFailed ? err.cause : err) as NodeJS.ErrnoException;
  // The PostgreSQL store wraps the driver's error (StoreUnavailableError): its code is on the cause.
  const code = cause.code ?? (cause.cause as NodeJS.ErrnoException | undefined)?.code;
  // pg could not parse it: a setting to fix, not a crash (and the value is not quoted: it may hold a password).
  if (config.databaseUrl && code === 'ERR_INVALID_URL') {
    return new ConfigError(
      'DATABASE_URL is not a URL the PostgreSQL driver can read (postgres://user:password@host:port/database)',
    );
  }
  if (!config.databaseUrl) {
    return code !== undefined && (STORE_ERRORS.has(code) || err instanceof DataDirFailed)
      ? new ConfigError(`cannot open the embedded store in DATA_DIR=${config.dataDir}: ${code}`)
      : err;
  }
  if (!connect && (code === undefined || !STORE_ERRORS.has(code))) {
    return err;
  }
  // A SQLSTATE alone (28P01) sends the operator to a search engine; the server's words say it (no password in
  // them). A failure without a code (a timeout, a closed connection, no TLS on the server) is its message.
  const reason =
    code !== undefined
      ? /^[0-9A-Z]{5}$/.test(code)
        ? `${code} ${cause.message}`
        : code
      : /client password must be a string/.test(cause.message)
        ? 'the server asks for a password and DATABASE_URL has none'
        : cause.message;
  const where = postgresLocation(config.databaseUrl);
  return new ConfigError(`cannot open the PostgreSQL store${where ? ` at ${where}` : ''} (DATABASE_URL): ${reason}`);
}

/**
 * PostgreSQL when DATABASE_URL is set, otherwise the embedded SQLite file under DATA_DIR. A store that cannot be
 * opened (a directory it may not write, a server it cannot reach or log in to) is a ConfigError of one line.
 */
export async function openStore(config: Config, opts: { migrate?: boolean } = {}): Promise<OpenedStore> {
  return open(config, opts).catch((err: NodeJS.ErrnoException) => {
    throw storeUnusable(config, err);
  });
}

async function open(config: Config, opts: { migrate?: boolean }): Promise<OpenedStore> {
  let db: Db;
  let secretKey = config.secretKey;
  let generatedSecretKey: string | null = null;
  if (config.databaseUrl) {
    // pg loads only when DATABASE_URL is set: the embedded store never pays its start-up time and memory.
    const { checkPostgres, openPostgres } = await import('./postgres-db.ts');
    await checkPostgres(config.databaseUrl).catch((err: Error) => {
      throw new ConnectFailed(err.message, { cause: err });
    });
    db = openPostgres(config.databaseUrl);
  } else {
    // Owner-only, as secret.key and the recordings are: the store holds callers' numbers, SDPs and payloads.
    // SQLite gives its -wal and -shm files the database file's permissions.
    const path = join(config.dataDir, 'callgate.db');
    try {
      makeDirectory(config.dataDir, 0o700);
      closeSync(openSync(path, 'a', 0o600)); // the mode applies only when the file is created here
    } catch (err) {
      throw new DataDirFailed((err as Error).message, { cause: err });
    }
    db = new SqliteDb(path, { synchronous: config.sqliteSynchronous });
    if (secretKey === null) {
      const local = localSecretKey(config.dataDir);
      secretKey = local.key;
      generatedSecretKey = local.generated ? resolve(config.dataDir, 'secret.key') : null;
    }
  }
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      // An open pool would keep the process alive: a CLI command would hang after printing its error.
      await db.close().catch(() => undefined);
      throw err;
    }
  }
  return { db, secretKey: secretKey as string, generatedSecretKey };
}

// Embedded mode generates its encryption key once and keeps it beside the database.
function localSecretKey(dataDir: string): { key: string; generated: boolean } {
  const path = join(dataDir, 'secret.key');
  let generated = false;
  if (!existsSync(path)) {
    try {
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
      generated = true;
    } catch (error) {
      // Another process (the server and a CLI command started together) made it first: that one says so.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
  }
  return { key: readFileSync(path, 'utf8').trim(), generated };
}
