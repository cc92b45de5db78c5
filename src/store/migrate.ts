import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
// Any fixed number: all processes agree on it so only one migrates at a time.
const PG_MIGRATION_LOCK = 727_431;

/** Applies the versioned SQL files of the dialect that are not yet recorded. */
export async function migrate(db: Db): Promise<number[]> {
  const dir = join(MIGRATIONS_DIR, db.dialect);
  const files = readdirSync(dir)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort();
  return db.transaction(async (tx) => {
    if (tx.dialect === 'postgres') {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [PG_MIGRATION_LOCK]);
    }
    await tx.execute(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const done = new Set(
      (await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
    );
    const applied: number[] = [];
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (done.has(version)) {
        continue;
      }
      for (const statement of splitStatements(readFileSync(join(dir, file), 'utf8'))) {
        await tx.execute(statement);
      }
      await tx.execute('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        version,
        file,
        new Date().toISOString(),
      ]);
      applied.push(version);
    }
    return applied;
  });
}

function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}
