// Read config, open the store, build the app, listen, close cleanly on signals.
import { buildApp } from './app.ts';
import { systemClock } from './clock.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { MemoryRateLimiter } from './ratelimit/memory.ts';
import { openStore } from './store/open-store.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel);
const { db, secretKey } = await openStore(config);
const app = await buildApp({ config, db, secretKey, clock: systemClock, logger, rateLimiter: new MemoryRateLimiter() });
app.addHook('onClose', async () => { await db.close(); });

let closing = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    app.close().then(() => process.exit(0), (err) => { logger.error({ err }, 'shutdown failed'); process.exit(1); });
  });
}

await app.listen({ port: config.port, host: config.host });
logger.info({ store: db.dialect }, 'callgate ready');
