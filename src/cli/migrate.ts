import { migrate } from '../store/migrate.ts';
import { type Env, HelpRequested, parseFlags, UsageError, wantsHelp } from './remote.ts';
import { openCommandStore, STORE_OPTIONS, STORE_USAGE, stderrLine, storeConfig } from './store.ts';

export const MIGRATE_USAGE = `usage: callgate migrate [--data-dir <dir>]   (on the store)
  applies the database migrations not yet applied (the server also applies them at start-up)
${STORE_USAGE}`;

export const MIGRATE_OPTIONS = STORE_OPTIONS;

export async function runMigrate(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(MIGRATE_USAGE);
  }
  const { values, positionals } = parseFlags(args, MIGRATE_OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`migrate takes no arguments, got "${positionals.join(' ')}"\n${MIGRATE_USAGE}`);
  }
  const config = storeConfig(env, values['data-dir'], stderrLine);
  const { db } = await openCommandStore(config, stderrLine, { migrate: false });
  try {
    const applied = await migrate(db);
    process.stderr.write(applied.length ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
  } finally {
    await db.close();
  }
}
