import { join } from 'node:path';
import { type Config, ConfigError } from '../config.ts';
import type { Db } from '../store/db.ts';
import { firstUnreadableCredentials } from '../store/sealed-secrets.ts';
import { noteSecretKeyInUse } from '../store/secret-keys.ts';
import { SecretBox } from './secret-box.ts';

/**
 * Refuses to start with a key that cannot open what the store holds (a typo, a process given another SECRET_KEY, a
 * DATA_DIR without its secret.key): such a process would pass /readyz and then fail every provider webhook and
 * call action with an opaque decryption error. A key that passes is noted as in use (by fingerprint), which is what
 * `secret-key rotate` checks its own SECRET_KEY against.
 */
export async function checkSecretKey(db: Db, secretKey: string, config: Config): Promise<void> {
  // Every number, not the newest only: after SECRET_KEY_PREVIOUS is dropped before `secret-key rotate` ran, the
  // newest may be sealed with the new key while every older one is not.
  if ((await firstUnreadableCredentials(db, new SecretBox(secretKey, config.previousSecretKey))) !== null) {
    const source = config.secretKey !== null ? 'SECRET_KEY' : `the key in ${join(config.dataDir, 'secret.key')}`;
    throw new ConfigError(
      `${source} cannot decrypt the provider credentials in the store: they were sealed with another key ` +
        '(every process needs the SECRET_KEY they were created with; while replacing it, the old one as ' +
        'SECRET_KEY_PREVIOUS)',
    );
  }
  await noteSecretKeyInUse(db, secretKey, new Date().toISOString());
}
