// `callgate worker`: webhook delivery and the sweeper (ring timeouts, max durations) against the configured
// store, without the HTTP API. Run the API with WORKERS=off and as many of these as needed.
// SIGTERM/SIGINT stop it gracefully.
import type { Server } from 'node:http';
import { SecretBox } from '../auth/secret-box.ts';
import { checkSecretKey } from '../auth/secret-key-check.ts';
import type { Config } from '../config.ts';
import { publicBase } from '../http/public-base.ts';
import { createLogger } from '../logger.ts';
import { createMetrics, type Metrics, metricsRequestHandler } from '../metrics.ts';
import { buildServices } from '../services.ts';
import { storeClock } from '../store/database-clock.ts';
import { generatedSecretKeyLine, openStore } from '../store/open-store.ts';
import { DeliveryWorker } from '../webhooks/worker.ts';
import { type Env, HelpRequested, parseFlags, UsageError, wantsHelp } from './remote.ts';
import { STORE_OPTIONS, STORE_USAGE, storeConfig } from './store.ts';

export const WORKER_USAGE = `usage: callgate worker [--data-dir <dir>] [--metrics-port <port>]   (on the store)
  delivers webhooks and runs the sweeper (ring timeouts, max durations) without the HTTP API; run the API with
  WORKERS=off and as many workers as needed. Stops cleanly on SIGTERM/SIGINT.
  --metrics-port <port>   serve this worker's GET /metrics on HOST:<port> (METRICS_TOKEN applies; 0 picks one)
${STORE_USAGE}`;

/** Attempts get 5 s to finish on stop (DeliveryWorker); past this the process exits without waiting any longer. */
const STOP_DEADLINE_MS = 25_000;

export const WORKER_OPTIONS = { ...STORE_OPTIONS, 'metrics-port': { type: 'string' } } as const;

export async function runWorker(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(WORKER_USAGE);
  }
  const { values, positionals } = parseFlags(args, WORKER_OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`worker takes no arguments, got "${positionals.join(' ')}"\n${WORKER_USAGE}`);
  }
  const metricsPort = values['metrics-port'] === undefined ? null : Number(values['metrics-port']);
  if (metricsPort !== null && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65_535)) {
    throw new UsageError('--metrics-port is a port number (0 picks a free one)');
  }
  const config = storeConfig(env, values['data-dir'], (line) => process.stderr.write(`${line}\n`));
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const { db, secretKey, generatedSecretKey } = await openStore(config);
  if (generatedSecretKey !== null) {
    logger.warn({ path: generatedSecretKey }, generatedSecretKeyLine(generatedSecretKey));
  }
  await checkSecretKey(db, secretKey, config).catch(async (err) => {
    await db.close();
    throw err;
  });
  const clock = await storeClock(db, logger);
  const metrics = createMetrics();
  const worker = new DeliveryWorker({
    db,
    box: new SecretBox(secretKey, config.previousSecretKey),
    logger,
    metrics,
    config,
    clock,
  });
  const { sweeper } = buildServices({
    config,
    db,
    secretKey,
    clock,
    logger,
    metrics,
    wakeDeliveries: () => worker.wake(),
  });
  // Its attempts and provider requests are counted in this process: without the API, this is where they are read.
  const metricsServer =
    metricsPort === null
      ? null
      : await serveMetrics(metrics, config, metricsPort).catch(async (err: NodeJS.ErrnoException) => {
          // The store's pool and clock would keep a worker that never started alive, delivering nothing.
          clock.stop();
          await db.close();
          throw new Error(
            `cannot serve metrics on HOST=${config.host} --metrics-port ${metricsPort}: ${err.code ?? err.message}`,
          );
        });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        return;
      }
      stopping = true;
      const stoppingAt = performance.now();
      logger.info({ signal }, 'worker shutting down');
      // As the server: a stop stuck on a database that stopped answering must not make SIGTERM a no-op.
      setTimeout(() => {
        logger.error({ signal, deadlineMs: STOP_DEADLINE_MS }, 'worker stop did not finish in time; exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      Promise.all([worker.stop(), sweeper.stop(), closeServer(metricsServer)])
        .then(() => {
          clock.stop();
          return db.close();
        })
        .then(() => {
          // As the server's last line: the stop finished, and how long it took.
          const durationMs = Math.round(performance.now() - stoppingAt);
          logger.info({ signal, durationMs }, `callgate worker stopped: shut down in ${durationMs} ms`);
        })
        .finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    worker.start();
    sweeper.start();
    const address = metricsServer?.address();
    const metricsUrl =
      address && typeof address === 'object' ? `${publicBase(config.host, address.port)}/metrics` : undefined;
    logger.info(
      { store: db.dialect, ...(metricsUrl ? { metrics: metricsUrl } : {}) },
      `callgate webhook worker ready (with the sweeper)${metricsUrl ? `; metrics on ${metricsUrl}` : ''}`,
    );
  });
}

async function serveMetrics(metrics: Metrics, config: Config, port: number): Promise<Server> {
  // Loaded only with --metrics-port (an ES import of node:http would load Node's bundled undici at every start).
  const { createServer } = process.getBuiltinModule('node:http');
  const server = createServer(metricsRequestHandler(metrics, config.metricsToken));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.host, () => resolve());
  });
  return server;
}

function closeServer(server: Server | null): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
