import { SecretBox } from '../auth/secret-box.ts';
import { openStore } from '../store/open-store.ts';
import { resealAll } from '../store/sealed-secrets.ts';
import { type Env, HelpRequested, parseFlags, subcommand, wantsHelp } from './remote.ts';
import { STORE_OPTIONS, STORE_USAGE, storeConfig } from './store.ts';

export const SECRET_KEY_USAGE = `usage: callgate secret-key rotate [--data-dir <dir>]   (on the store)
  re-seals every secret in the store sealed with SECRET_KEY_PREVIOUS under SECRET_KEY (provider credentials,
  webhook signing secrets, stored Idempotency-Key answers); prints how many as JSON on stdout. Give every process
  the new SECRET_KEY and the old one as SECRET_KEY_PREVIOUS first, then run this, then drop SECRET_KEY_PREVIOUS.
  Running it again is harmless. Exit 1 when a secret opens with neither key (they are named, not shown).
${STORE_USAGE}`;

export const SECRET_KEY_COMMANDS = ['rotate'] as const;

export async function runSecretKey(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(SECRET_KEY_USAGE);
  }
  const [sub, ...rest] = args;
  subcommand(sub, SECRET_KEY_COMMANDS, 'secret-key');
  const { values } = parseFlags(rest, STORE_OPTIONS);
  const config = storeConfig(env, values['data-dir'], (line) => process.stderr.write(`${line}\n`));
  if (config.previousSecretKey === null) {
    throw new Error('SECRET_KEY_PREVIOUS is not set: it names the key the secrets to re-seal were sealed with');
  }
  const { db, secretKey } = await openStore(config);
  try {
    const report = await resealAll(db, new SecretBox(secretKey, config.previousSecretKey));
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (report.unreadable.length > 0) {
      throw new Error(
        `${report.unreadable.length} secret(s) open with neither SECRET_KEY nor SECRET_KEY_PREVIOUS, left as they ` +
          `are: ${report.unreadable.join(', ')}`,
      );
    }
  } finally {
    await db.close();
  }
}
