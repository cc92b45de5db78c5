import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, storeLocation } from '../config.ts';
import { backupSqlite } from '../store/sqlite-backup.ts';
import { type Env, fromShell, HelpRequested, parseFlags, UsageError, wantsHelp } from './remote.ts';
import { STORE_OPTIONS, STORE_USAGE, stderrLine } from './store.ts';

export const BACKUP_USAGE = `usage: callgate backup <file> [--force] [--data-dir <dir>]   (on the store)
  writes a consistent copy of the embedded store to <file> while the server keeps running (SQLite's VACUUM INTO:
  one snapshot of what was committed, checked before it is kept); prints {"path","bytes","schemaVersion"} as JSON.
  It refuses to replace an existing file unless --force. Not in the copy: the key its secrets are sealed under
  (SECRET_KEY, or DATA_DIR/secret.key) and the recordings (RECORDINGS_DIR): keep them too, the key apart from the
  copy. On PostgreSQL (DATABASE_URL) use pg_dump. Restoring: docs/operations.md "Backups".
${STORE_USAGE}`;

export const BACKUP_OPTIONS = { ...STORE_OPTIONS, force: { type: 'boolean' } } as const;

export async function runBackup(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(BACKUP_USAGE);
  }
  const { values, positionals } = parseFlags(args, BACKUP_OPTIONS);
  const [file, ...extra] = positionals;
  if (file === undefined) {
    throw new UsageError(`backup needs the file to write\n${BACKUP_USAGE}`);
  }
  if (extra.length > 0) {
    throw new UsageError(`backup takes one file, got also "${extra.join(' ')}"\n${BACKUP_USAGE}`);
  }
  // The configuration as the server reads it, but nothing is created: a backup of a store that is not there
  // would be an empty one.
  const dataDir = values['data-dir'];
  const config = loadConfig(dataDir ? { ...env, DATA_DIR: fromShell(dataDir, env) } : env);
  if (config.databaseUrl) {
    throw new Error(
      `backup copies the embedded store, and this one is ${storeLocation(config)}: use pg_dump ` +
        '(docs/operations.md "Backups")',
    );
  }
  stderrLine(`store: ${storeLocation(config)}`);
  const path = fromShell(file, env);
  const result = backupSqlite(join(config.dataDir, 'callgate.db'), path, { replace: values.force === true });
  process.stdout.write(`${JSON.stringify({ path, ...result })}\n`);
  const keyFile = resolve(config.dataDir, 'secret.key');
  const key =
    config.secretKey !== null ? 'SECRET_KEY (as set for this command)' : existsSync(keyFile) ? keyFile : 'SECRET_KEY';
  stderrLine(
    `backup: not in it: the key its secrets are sealed under, ${key}, and the recordings in ` +
      `${resolve(config.media.recordingsDir)}; keep both, the key apart from the backup`,
  );
}
