// The callgate command line: admin commands against the same store the server uses.
import { loadConfig } from '../config.ts';
import { runTenants } from './tenants.ts';
import { runMigrate } from './migrate.ts';
import { runWorker } from './worker.ts';

const USAGE = `usage: callgate <command>
  tenants create --name <name>   create a tenant; prints {"tenantId","apiKey":{"id","key"}} as JSON
  migrate                        apply database migrations
  worker                         deliver webhooks only (run the API with WORKERS=off); stops on SIGTERM
Configuration comes from the same environment variables as the server (DATA_DIR, DATABASE_URL, SECRET_KEY).`;

const [command, ...rest] = process.argv.slice(2);
try {
  const config = loadConfig();
  switch (command) {
    case 'tenants': await runTenants(config, rest); break;
    case 'migrate': await runMigrate(config); break;
    case 'worker': await runWorker(config); break;
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
} catch (error) {
  process.stderr.write(`callgate: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
