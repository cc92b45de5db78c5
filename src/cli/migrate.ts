import type { Config } from '../config.ts';
import { migrate } from '../store/migrate.ts';
import { openStore } from '../store/open-store.ts';

export async function runMigrate(config: Config): Promise<void> {
  const { db } = await openStore(config, { migrate: false });
  try {
    const applied = await migrate(db);
    process.stderr.write(applied.length ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
  } finally {
    await db.close();
  }
}
