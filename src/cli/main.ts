// The callgate command line. Admin commands (tenants, migrate, backup, worker) work on the store directly, with the
// server's configuration; the others talk to a running server with an API key, through the SDK. Each command
// group is loaded when used, so a remote command never loads the store or the server's modules.
// Exit codes: 0 done (and for --help, which does nothing else), 1 failed, 2 the command was called wrongly.
import { describeError } from './output.ts';
import { HelpRequested, MissingArgument, REMOTE_USAGE, sentCredential, synopsisOf, UsageError } from './remote.ts';
import { unknownChoice } from './suggest.ts';

const USAGE = `usage: callgate <command> [options]   (callgate <command> --help for more)

On the store (same environment as the server: DATA_DIR, DATABASE_URL, SECRET_KEY; or --data-dir):
  tenants create|rotate-key      create --name <name>: a tenant; prints {"tenantId","apiKey":{"id","key"}} as JSON
                                 rotate-key --tenant <id>: a new key for it, the old one refused at once
  migrate                        apply database migrations
  secret-key rotate              re-seal the store's secrets under a new SECRET_KEY (the old one in SECRET_KEY_PREVIOUS)
  backup <file>                  a consistent copy of the embedded store, taken while the server runs
  worker                         deliver webhooks and run the sweeper (run the API with WORKERS=off); stops on SIGTERM

Against a running server, with a key:
  numbers list|get|create|update|delete|status|connect        (tenant key)
  keys list|create|regenerate                                 (tenant key)
  webhooks list|get|create|update|delete|rotate-secret|logs|replay
  calls list|get|events|accept|reject|terminate|watch|play|stop-play|listen|recording|delete-recording|settings
                                                              (number key)
  simulate call [--from <+E164>] [--audio tone:440|echo|silence|speech-sample|file.wav|<https URL>]
                [--hangup-after 30] [--answer accept|reject|ignore] [--press 1,,# | --keypad] [--no-wait]
                                                              (SANDBOX number key)
  listen --forward-to <url> [--secret whsec_...]              forward live events to a local URL, signed

Shell:
  completion bash|zsh            print a completion script: source <(callgate completion bash)

${REMOTE_USAGE}`;

const COMMANDS = [
  'tenants',
  'migrate',
  'secret-key',
  'backup',
  'worker',
  'numbers',
  'keys',
  'webhooks',
  'calls',
  'simulate',
  'listen',
  'completion',
  'help',
] as const;

/** The usage line of the subcommand whose argument is missing (its module is loaded already). */
async function synopsisFor(group: string | undefined, sub: string | undefined): Promise<string | null> {
  const usages: Record<string, () => Promise<string>> = {
    calls: async () => (await import('./calls.ts')).CALLS_USAGE,
    numbers: async () => (await import('./numbers.ts')).NUMBERS_USAGE,
    keys: async () => (await import('./keys.ts')).KEYS_USAGE,
    webhooks: async () => (await import('./webhooks.ts')).WEBHOOKS_USAGE,
  };
  const usage = group === undefined ? undefined : usages[group];
  return usage && sub ? synopsisOf(await usage(), group as string, sub) : null;
}

const [command, ...rest] = process.argv.slice(2);
const env = process.env;
const json = rest.includes('--json');
try {
  switch (command) {
    case 'tenants':
      await (await import('./tenants.ts')).runTenants(rest, env);
      break;
    case 'migrate':
      await (await import('./migrate.ts')).runMigrate(rest, env);
      break;
    case 'secret-key':
      await (await import('./secret-key.ts')).runSecretKey(rest, env);
      break;
    case 'backup':
      await (await import('./backup.ts')).runBackup(rest, env);
      break;
    case 'worker':
      await (await import('./worker.ts')).runWorker(rest, env);
      break;
    case 'numbers':
      await (await import('./numbers.ts')).runNumbers(rest, env);
      break;
    case 'keys':
      await (await import('./keys.ts')).runKeys(rest, env);
      break;
    case 'webhooks':
      await (await import('./webhooks.ts')).runWebhooks(rest, env);
      break;
    case 'calls':
      await (await import('./calls.ts')).runCalls(rest, env);
      break;
    case 'simulate':
      await (await import('./simulate.ts')).runSimulate(rest, env);
      break;
    case 'listen':
      await (await import('./listen.ts')).runListen(rest, env);
      break;
    case 'completion':
      (await import('./completion.ts')).runCompletion(rest);
      break;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      throw new HelpRequested(USAGE);
    default:
      throw new UsageError(`${unknownChoice('command', command, COMMANDS)}\n\n${USAGE}`);
  }
} catch (error) {
  if (error instanceof HelpRequested) {
    process.stdout.write(`${error.message}\n`);
    process.exitCode = 0;
  } else if (error instanceof UsageError) {
    const synopsis = error instanceof MissingArgument ? await synopsisFor(command, rest[0]) : null;
    process.stderr.write(`callgate: ${error.message}${synopsis ? `\n  usage: callgate ${synopsis}` : ''}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`${describeError(error, json, sentCredential(rest, env))}\n`);
    process.exitCode = 1;
  }
}
