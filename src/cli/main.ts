// The callgate command line. Admin commands (tenants, migrate, worker) work on the store directly, with the
// server's configuration; the others talk to a running server with an API key, through the SDK. Each command
// group is loaded when used, so a remote command never loads the store or the server's modules.
import { describeError } from './output.ts';
import { REMOTE_USAGE, UsageError } from './remote.ts';

const config = async () => (await import('../config.ts')).loadConfig();

const USAGE = `usage: callgate <command> [options]   (callgate <command> --help for more)

On the store (same environment as the server: DATA_DIR, DATABASE_URL, SECRET_KEY):
  tenants create --name <name>   create a tenant; prints {"tenantId","apiKey":{"id","key"}} as JSON
  migrate                        apply database migrations
  worker                         deliver webhooks only (run the API with WORKERS=off); stops on SIGTERM

Against a running server, with a key:
  numbers list|get|create|delete                              (tenant key)
  keys list|regenerate                                        (tenant key)
  webhooks list|get|create|update|delete|rotate-secret|logs|replay
  calls list|get|events|terminate|watch|play|stop-play|listen (number key)
  simulate call [--from] [--audio tone:440|echo|file.wav] [--hangup-after 30]   (SANDBOX number key)
  listen --forward-to <url> [--secret whsec_...]              forward live events to a local URL, signed

${REMOTE_USAGE}`;

const [command, ...rest] = process.argv.slice(2);
const env = process.env;
const json = rest.includes('--json');
try {
  switch (command) {
    case 'tenants':
      await (await import('./tenants.ts')).runTenants(await config(), rest);
      break;
    case 'migrate':
      await (await import('./migrate.ts')).runMigrate(await config());
      break;
    case 'worker':
      await (await import('./worker.ts')).runWorker(await config());
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
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = rest.includes('--help') || rest.includes('-h') ? 0 : 2;
  } else {
    process.stderr.write(`${describeError(error, json)}\n`);
    process.exitCode = 1;
  }
}
