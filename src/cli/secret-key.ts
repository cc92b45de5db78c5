import { SecretBox } from '../auth/secret-box.ts';
import { noneResealed, resealAll } from '../store/sealed-secrets.ts';
import { isSecretKeyInUse } from '../store/secret-keys.ts';
import { type Env, HelpRequested, parseFlags, subcommand, wantsHelp } from './remote.ts';
import { openCommandStore, STORE_OPTIONS, STORE_USAGE, stderrLine, storeConfig } from './store.ts';

export const SECRET_KEY_USAGE = `usage: callgate secret-key rotate [--dry-run] [--force] [--data-dir <dir>]   (on the store)
  re-seals every secret in the store sealed with SECRET_KEY_PREVIOUS under SECRET_KEY (provider credentials,
  webhook signing secrets, stored Idempotency-Key answers); prints how many as JSON on stdout. Give every process
  the new SECRET_KEY and the old one as SECRET_KEY_PREVIOUS first, then run this, then drop SECRET_KEY_PREVIOUS.
  Running it again is harmless. It writes nothing and exits 1 when no process has started with this SECRET_KEY
  (a mistyped key, or step one skipped), or when a secret opens with neither key, naming them (never showing
  them); --force re-seals what it can all the same. --dry-run only counts what it would re-seal.
${STORE_USAGE}`;

export const SECRET_KEY_OPTIONS = {
  ...STORE_OPTIONS,
  force: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const;
/** Named in an error line at most; the JSON report on stdout has them all. */
const NAMED_AT_MOST = 10;

export const SECRET_KEY_COMMANDS = ['rotate'] as const;

export async function runSecretKey(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(SECRET_KEY_USAGE);
  }
  const [sub, ...rest] = args;
  subcommand(sub, SECRET_KEY_COMMANDS, 'secret-key');
  const { values } = parseFlags(rest, SECRET_KEY_OPTIONS);
  const config = storeConfig(env, values['data-dir'], stderrLine);
  if (config.previousSecretKey === null) {
    throw new Error('SECRET_KEY_PREVIOUS is not set: it names the key the secrets to re-seal were sealed with');
  }
  const { db, secretKey } = await openCommandStore(config, stderrLine);
  try {
    const force = values.force === true;
    const dryRun = values['dry-run'] === true;
    // A dry run says what the same command without it would do, refusals included.
    const nothing = dryRun ? 'A run would re-seal nothing' : 'Nothing was re-sealed';
    const inUse = await isSecretKeyInUse(db, secretKey);
    const refused = !inUse && !force;
    const report =
      refused && !dryRun
        ? null
        : await resealAll(db, new SecretBox(secretKey, config.previousSecretKey), { force, dryRun });
    if (report !== null) {
      // Refused for the key, the run re-seals nothing: neither does its dry run, which still names what is unreadable.
      const counted = refused ? { ...report, resealed: noneResealed() } : report;
      process.stdout.write(`${JSON.stringify(dryRun ? { dryRun, secretKeyInUse: inUse, ...counted } : counted)}\n`);
    }
    if (refused) {
      throw new Error(
        `no callgate process has started with this SECRET_KEY. ${nothing}: check it for a typo, and give the ` +
          'processes the new SECRET_KEY (with the old one as SECRET_KEY_PREVIOUS) before rotating; --force ' +
          're-seals under it all the same.',
      );
    }
    const unreadable = report?.unreadable ?? [];
    if (unreadable.length > 0) {
      const more = unreadable.length > NAMED_AT_MOST ? ` and ${unreadable.length - NAMED_AT_MOST} more` : '';
      throw new Error(
        `${unreadable.length} secret(s) open with neither SECRET_KEY nor SECRET_KEY_PREVIOUS: ` +
          `${unreadable.slice(0, NAMED_AT_MOST).join(', ')}${more}. ` +
          (force
            ? dryRun
              ? 'A run would re-seal the others.'
              : 'The others were re-sealed.'
            : `${nothing} (check both keys; --force re-seals the others).`),
      );
    }
  } finally {
    await db.close();
  }
}
