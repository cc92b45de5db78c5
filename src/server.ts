// The server process (started by src/main.mjs): read config, open the store, build the app, start the in-process
// webhook worker and sweeper, listen, close cleanly on signals.
import type { FastifyInstance } from 'fastify';
import { buildAppWithSweeper } from './app.ts';
import { SecretBox } from './auth/secret-box.ts';
import { checkSecretKey } from './auth/secret-key-check.ts';
import { ConfigError, loadConfig, storeLocation } from './config.ts';
import { publicBase } from './http/public-base.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { MemoryRateLimiter } from './ratelimit/memory.ts';
import type { RateLimiter } from './ratelimit/types.ts';
import { storeClock } from './store/database-clock.ts';
import { generatedSecretKeyLine, openStore } from './store/open-store.ts';
import { DeliveryWorker } from './webhooks/worker.ts';

const SHUTDOWN_GRACE_MS = 15_000;
// Past this, the exit no longer waits for the shutdown's own work (a sweep or a claim stuck on a database that stopped
// answering, say): leases and the outbox make an abrupt exit safe, and a process ignoring SIGTERM is not.
const SHUTDOWN_DEADLINE_MS = SHUTDOWN_GRACE_MS + 10_000;
const LISTEN_ERRORS = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

export { ConfigError };

/** Starts the server as configured by the environment; resolves once it listens. */
export async function startServer(): Promise<FastifyInstance> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  // A store that cannot be opened is a ConfigError: one line, no stack.
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
  // ioredis loads only when REDIS_URL is set: the embedded setup never pays its start-up time and memory.
  const rateLimiter: RateLimiter = config.redisUrl
    ? new (await import('./ratelimit/redis.ts')).RedisRateLimiter(config.redisUrl, logger)
    : new MemoryRateLimiter();
  const inProcess = config.workers === 'in-process';
  const worker = inProcess
    ? new DeliveryWorker({
        db,
        box: new SecretBox(secretKey, config.previousSecretKey),
        logger,
        metrics,
        config,
        clock,
      })
    : null;
  const { app, sweeper } = await buildAppWithSweeper({
    config,
    db,
    secretKey,
    clock,
    logger,
    rateLimiter,
    metrics,
    ...(worker ? { wakeDeliveries: () => worker.wake() } : {}),
  });
  app.addHook('onClose', async () => {
    clock.stop();
    await db.close();
  });
  // onClose hooks run last-registered first: the sweeper finishes its sweep and the worker stops (and gives back its
  // leases) before the store closes.
  app.addHook('onClose', () => sweeper.stop());
  app.addHook('onClose', async () => {
    await worker?.stop();
  });

  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) {
        return;
      }
      closing = true;
      const stopping = performance.now();
      logger.info({ signal }, 'shutting down');
      // In-flight work gets a bounded grace period; a client that never finishes cannot hold the exit hostage.
      setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      setTimeout(() => {
        logger.error({ signal, deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
      app.close().then(
        () => {
          // The last line: the stop finished (and how long it took), rather than a log that just ends.
          const durationMs = Math.round(performance.now() - stopping);
          logger.info({ signal, durationMs }, `callgate stopped: shut down in ${durationMs} ms`);
          process.exit(0);
        },
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }

  // With WORKERS=in-process this process also ends calls that rang or lasted too long; otherwise `callgate worker` does.
  if (inProcess) {
    sweeper.start();
  }
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    // A port in use or a host that does not resolve is a setting to change, not a crash to debug.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !LISTEN_ERRORS.has(code)) {
      throw err;
    }
    await worker?.stop();
    await app.close();
    throw new ConfigError(`cannot listen on HOST=${config.host} PORT=${config.port}: ${code}`);
  }
  worker?.start();
  const address = app.server.address();
  const base = publicBase(config.host, typeof address === 'object' && address ? address.port : config.port);
  const urls = { api: `${base}/v1`, docs: `${base}/docs`, dashboard: `${base}/dashboard`, metrics: `${base}/metrics` };
  logger.info(
    { store: db.dialect, storeAt: storeLocation(config), ...urls },
    `callgate ready: API ${urls.api}, reference ${urls.docs}, dashboard ${urls.dashboard}`,
  );
  return app;
}
