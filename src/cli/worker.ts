// `callgate worker`: webhook delivery and the sweeper (ring timeouts, max durations) against the configured
// store, without the HTTP API. Run the API with WORKERS=off and as many of these as needed.
// SIGTERM/SIGINT stop it gracefully.
import { SecretBox } from '../auth/secret-box.ts';
import { systemClock } from '../clock.ts';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { buildServices } from '../services.ts';
import { openStore } from '../store/open-store.ts';
import { DeliveryWorker } from '../webhooks/worker.ts';
import { type Env, HelpRequested, parseFlags, UsageError, wantsHelp } from './remote.ts';
import { STORE_OPTIONS, STORE_USAGE, storeConfig } from './store.ts';

export const WORKER_USAGE = `usage: callgate worker [--data-dir <dir>]   (on the store)
  delivers webhooks and runs the sweeper (ring timeouts, max durations) without the HTTP API; run the API with
  WORKERS=off and as many workers as needed. Stops cleanly on SIGTERM/SIGINT.
${STORE_USAGE}`;

export const WORKER_OPTIONS = STORE_OPTIONS;

export async function runWorker(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(WORKER_USAGE);
  }
  const { values, positionals } = parseFlags(args, WORKER_OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`worker takes no arguments, got "${positionals.join(' ')}"\n${WORKER_USAGE}`);
  }
  const config = storeConfig(env, values['data-dir'], (line) => process.stderr.write(`${line}\n`));
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const { db, secretKey } = await openStore(config);
  const worker = new DeliveryWorker({
    db,
    box: new SecretBox(secretKey),
    logger,
    metrics: createMetrics(),
    config,
    clock: systemClock,
  });
  const { sweeper } = buildServices({
    config,
    db,
    secretKey,
    clock: systemClock,
    logger,
    wakeDeliveries: () => worker.wake(),
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        return;
      }
      stopping = true;
      logger.info({ signal }, 'worker shutting down');
      Promise.all([worker.stop(), sweeper.stop()])
        .then(() => db.close())
        .finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    worker.start();
    sweeper.start();
    logger.info({ store: db.dialect }, 'callgate webhook worker ready (with the sweeper)');
  });
}
