// What the store commands (tenants, migrate, worker) share: --data-dir, the configuration read as the server
// reads it, and one stderr line naming the store used, so a key created in one store and presented to a server
// on another is never a silent mystery.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Config, loadConfig, storeLocation } from '../config.ts';
import { makeDirectory } from '../make-directory.ts';
import { generatedSecretKeyLine, type OpenedStore, openStore } from '../store/open-store.ts';
import { type Env, fromShell } from './remote.ts';

export const STORE_OPTIONS = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const STORE_USAGE = `Store (as the server's: DATABASE_URL, else SQLite under DATA_DIR; SECRET_KEY):
  --data-dir <dir>   the embedded store's directory (default $DATA_DIR or ./data); ignored with DATABASE_URL`;

/**
 * The configuration for a store command. When the embedded store's directory does not exist it is created with a
 * line saying so; when that directory is only the default (no DATA_DIR, no --data-dir) the line also says how a
 * server elsewhere would use another store.
 */
export function storeConfig(env: Env, dataDir: string | undefined, note: (line: string) => void): Config {
  const config = loadConfig(dataDir ? { ...env, DATA_DIR: fromShell(dataDir, env) } : env);
  if (config.databaseUrl) {
    note(`store: ${storeLocation(config)}`);
    return config;
  }
  if (!existsSync(config.dataDir)) {
    makeDirectory(config.dataDir, 0o700); // as openStore makes it: owner-only
    const chosen = dataDir !== undefined || Boolean(env.DATA_DIR);
    note(
      chosen
        ? `store: created ${config.dataDir} (it did not exist)`
        : `store: created ${resolve(config.dataDir)}: ./data did not exist here and DATA_DIR is unset. ` +
            "If the server runs elsewhere, use its store: --data-dir <the server's DATA_DIR> or DATABASE_URL",
    );
  }
  note(`store: ${storeLocation(config)}`);
  return config;
}

/** A line on stderr, where the store commands say which store they used. */
export const stderrLine = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** openStore for a store command: a secret.key it generated is said on stderr (`note`), as the server logs it. */
export async function openCommandStore(
  config: Config,
  note: (line: string) => void,
  opts: { migrate?: boolean } = {},
): Promise<OpenedStore> {
  const opened = await openStore(config, opts);
  if (opened.generatedSecretKey !== null) {
    note(`store: ${generatedSecretKeyLine(opened.generatedSecretKey)}`);
  }
  return opened;
}
