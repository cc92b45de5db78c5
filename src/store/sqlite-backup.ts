// A consistent copy of the embedded store, taken while a server may be writing to it. SQLite's VACUUM INTO reads
// one snapshot (in WAL mode a reader never blocks the writer, and sees only committed transactions) and writes a
// compact database. The copy is made beside the target, checked, synced and renamed, so a file at the target is
// always a whole backup, never the half of one a full disk or a kill left.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface SqliteBackup {
  /** Size of the backup file in bytes. */
  bytes: number;
  /** The highest migration applied in the copy: a server restoring it applies the ones after. */
  schemaVersion: number;
}

/** A backup that cannot be made, said so that the operator knows what to change. */
export class BackupRefused extends Error {
  override name = 'BackupRefused';
}

export function backupSqlite(sourcePath: string, targetPath: string, opts: { replace?: boolean } = {}): SqliteBackup {
  if (!isFile(sourcePath)) {
    throw new BackupRefused(`no embedded store at ${sourcePath}`);
  }
  const target = statOrNull(targetPath);
  // With --force the rename would put the copy in the place of the live store (or its WAL), under a server still
  // writing to the file it has open: every write after the copy lost at its next start, a WAL of another file.
  if (isStoreFile(sourcePath, targetPath)) {
    throw new BackupRefused(`${targetPath} is the store itself: write the backup to another file`);
  }
  if (target?.isDirectory()) {
    throw new BackupRefused(`${targetPath} is a directory: give the backup's file name`);
  }
  if (target && !opts.replace) {
    throw new BackupRefused(`${targetPath} exists: choose another name, or --force to replace it`);
  }
  const directory = dirname(targetPath);
  if (!statOrNull(directory)?.isDirectory()) {
    throw new BackupRefused(`${directory} does not exist: create it first`);
  }
  // A name no one can have put there first: in a shared directory (/tmp) a link planted at a name known in advance
  // would have had the copy written through it, over whatever file it points at.
  const partial = join(directory, `.${basename(targetPath)}.partial-${randomBytes(8).toString('hex')}`);
  // Made empty first, only if it is not there, so the copy is owner-only like the store: it holds callers' numbers
  // and sealed secrets.
  closeSync(openSync(partial, 'wx', 0o600));
  try {
    const source = new DatabaseSync(sourcePath, { readOnly: true });
    try {
      source.exec('PRAGMA busy_timeout = 5000');
      source.prepare('VACUUM INTO ?').run(partial);
    } finally {
      source.close();
    }
    const schemaVersion = checkedSchemaVersion(partial);
    syncFile(partial);
    renameSync(partial, targetPath);
    syncFile(directory); // the rename itself survives a power cut only once its directory is synced
    return { bytes: statSync(targetPath).size, schemaVersion };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/** Opens the copy on its own: a copy SQLite finds damaged, or that has no migrations, is not a backup. */
function checkedSchemaVersion(path: string): number {
  const copy = new DatabaseSync(path, { readOnly: true });
  try {
    const check = copy.prepare('PRAGMA quick_check').get() as { quick_check: string };
    if (check.quick_check !== 'ok') {
      throw new Error(`the copy failed SQLite's check (${check.quick_check}): nothing was written`);
    }
    const hasMigrations = copy
      .prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      .get();
    if (!hasMigrations) {
      throw new BackupRefused('the database holds no callgate schema (no migration was ever applied to it)');
    }
    const row = copy.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number };
    return Number(row.version ?? 0);
  } finally {
    copy.close();
  }
}

/**
 * Whether the target names the store or one of SQLite's files beside it, also through a linked directory: the
 * rename would replace that name, not a link to it.
 */
function isStoreFile(sourcePath: string, targetPath: string): boolean {
  const store = realPathOf(sourcePath);
  const named = realPathOf(targetPath);
  return ['', '-wal', '-shm', '-journal'].some((suffix) => named === `${store}${suffix}`);
}

/** The path with its directory's links resolved (the directory may not exist: then as given). */
function realPathOf(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function isFile(path: string): boolean {
  return statOrNull(path)?.isFile() === true;
}
