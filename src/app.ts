// buildApp: the only wiring file. Ecosystem plugins, then ours (request id, errors, auth + rate limit), then routes.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { SecretBox } from './auth/secret-box.ts';
import { ActionSlots } from './calls/action-slots.ts';
import { MetaCalling } from './calls/meta-calling.ts';
import { OutboundCalls } from './calls/outbound.ts';
import { ProviderEvents } from './calls/provider-events.ts';
import { CallService } from './calls/service.ts';
import { Sweeper } from './calls/sweeper.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { registerAuth } from './http/plugins/auth.ts';
import { registerIdempotency } from './http/plugins/idempotency.ts';
import { registerErrorHandling, sendError } from './http/plugins/errors.ts';
import { compileValidator } from './http/plugins/validator.ts';
import { ApiError } from './errors.ts';
import { CallSchema } from './http/schemas/call.ts';
import { ErrorEnvelope } from './http/schemas/common.ts';
import { NumberSchema } from './http/schemas/number.ts';
import { WebhookSchema } from './http/schemas/webhook.ts';
import { registerRoutes } from './http/routes/index.ts';
import type { App } from './http/types.ts';
import { newRequestId } from './ids.ts';
import { createMetrics, registerBacklogGauges, registerMetricsRoute, type Metrics } from './metrics.ts';
import { NumberService } from './numbers/service.ts';
import { MetaProvider } from './providers/meta/client.ts';
import { EvolutionProvider } from './providers/evolution/client.ts';
import { mergeNumberPublicConfig } from './store/numbers.ts';
import { providerRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { RateLimiter } from './ratelimit/types.ts';
import type { Db } from './store/db.ts';
import { WebhookService } from './webhooks/service.ts';
import type { HostLookup } from './webhooks/url-guard.ts';
import { notifyingDb } from './webhooks/worker.ts';

export interface AppDeps {
  config: Config;
  db: Db;
  secretKey: string;
  clock: Clock;
  logger: Logger;
  rateLimiter: RateLimiter;
  /** Tests may replace the provider adapters; by default they are built from config. */
  providers?: ProviderRegistry;
  /** The process's metrics registry (shared with its in-process worker); a fresh one by default. */
  metrics?: Metrics;
  /** Wakes the in-process webhook worker after a commit that may have queued deliveries. */
  wakeDeliveries?: () => void;
  /** Run the sweeper (ring timeouts, max durations) in this process. */
  runSweeper?: boolean;
  /** DNS used by the webhook URL check at registration; tests inject one. */
  webhookHostLookup?: HostLookup;
}

declare module 'fastify' {
  interface FastifyInstance { sweeper: Sweeper }
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 72_000,
    // Echo a client's sane x-request-id, otherwise make one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : newRequestId();
    },
    routerOptions: { maxParamLength: 1024 },
    // Errors raised before routing (a URL that does not decode, say) get the same envelope as the rest.
    frameworkErrors: (error, request, reply) => {
      void sendError(request, reply, new ApiError('VALIDATION_ERROR', { details: { reason: error.message } }));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(compileValidator);
  // A JSON API: text bodies are refused with 415 rather than half-parsed.
  app.removeContentTypeParser('text/plain');

  app.addHook('onSend', async (request, reply) => { reply.header('x-request-id', request.id); });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'callgate — WhatsApp calling gateway', version: '1.0.0', description: 'Wire-compatible with the Pilot Status Calls API.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'Your ps_ API key' },
          apiKeyId: { type: 'apiKey', in: 'header', name: 'x-api-key-id', description: 'API key id (alternative to x-api-key)' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  for (const schema of [ErrorEnvelope, CallSchema, NumberSchema, WebhookSchema]) app.addSchema(schema);
  registerErrorHandling(app);
  registerAuth(app, { db: deps.db, config: deps.config, rateLimiter: deps.rateLimiter, now: () => deps.clock.now() });
  registerIdempotency(app, { db: deps.db, now: () => deps.clock.now(), maxWaitMs: deps.config.providerTimeoutMs * 2 + 5_000 });

  const box = new SecretBox(deps.secretKey);
  const numbers = new NumberService(deps.db, box, deps.clock, async (n) => {
    if (n.provider !== 'EVO_GO') return;
    const probed = await evolution.probe(n);
    if (probed.ok) {
      await mergeNumberPublicConfig(deps.db, n.id, { capabilities: { callsExtension: probed.value.capability, checkedAt: probed.value.checkedAt } }, deps.clock.now().toISOString());
    }
  });
  const meta = new MetaProvider({
    baseUrl: deps.config.metaGraphBaseUrl, version: deps.config.metaGraphVersion, timeoutMs: deps.config.providerTimeoutMs,
    secretsOf: (n) => numbers.metaSecrets(n), logger: deps.logger,
  });
  const evolution = new EvolutionProvider({
    timeoutMs: deps.config.providerTimeoutMs, dialTimeoutMs: deps.config.evolutionDialTimeoutMs,
    secretsOf: (n) => numbers.evolutionSecrets(n), logger: deps.logger, now: () => deps.clock.now().getTime(),
    // What the server supports is remembered on the number, so a missing extension costs no request.
    onCapability: (n, capability) => {
      mergeNumberPublicConfig(deps.db, n.id, { capabilities: { callsExtension: capability, checkedAt: deps.clock.now().toISOString() } }, deps.clock.now().toISOString())
        .catch((err) => deps.logger.warn({ err: err.message, numberId: n.id }, 'could not store the Evolution capability'));
    },
  });
  const providers = deps.providers ?? providerRegistry({ META: meta, EVO_GO: evolution });

  const wake = deps.wakeDeliveries;
  // Everything that may queue events writes through callDb, which wakes the in-process worker after commits.
  const callDb = wake ? notifyingDb(deps.db, wake) : deps.db;
  const slots = new ActionSlots(callDb, deps.clock, deps.config.providerTimeoutMs);
  const calls = new CallService({ db: callDb, providers, metaFeatures: meta, evolution, slots, clock: deps.clock, config: deps.config, logger: deps.logger });
  const providerEvents = new ProviderEvents({ db: callDb, slots, clock: deps.clock, config: deps.config, logger: deps.logger });
  const outbound = new OutboundCalls({ db: callDb, providers, events: providerEvents, clock: deps.clock });
  const metaCalling = new MetaCalling({ db: callDb, meta, clock: deps.clock });
  const sweeper = new Sweeper({ db: callDb, slots, providers, clock: deps.clock, config: deps.config, logger: deps.logger });
  app.decorate('sweeper', sweeper);
  if (deps.runSweeper) {
    sweeper.start();
    app.addHook('onClose', () => sweeper.stop());
  }

  const webhooks = new WebhookService({
    db: deps.db, box, clock: deps.clock, config: deps.config, ...(deps.webhookHostLookup ? { lookup: deps.webhookHostLookup } : {}), ...(wake ? { onQueued: wake } : {}),
  });
  const metrics = deps.metrics ?? createMetrics();
  registerBacklogGauges(metrics, deps.db, deps.clock);
  registerMetricsRoute(app, metrics);

  registerRoutes(app, {
    config: deps.config, db: deps.db, calls, outbound, metaCalling, numbers, webhooks,
    metaInbound: { db: deps.db, events: providerEvents, metaCalling, clock: deps.clock, logger: deps.logger, secretsOf: (n) => numbers.metaSecrets(n) },
    evolutionInbound: { db: deps.db, events: providerEvents, clock: deps.clock, logger: deps.logger, secretsOf: (n) => numbers.evolutionSecrets(n) },
  });
  app.addHook('onClose', async () => { await deps.rateLimiter.close(); });
  return app;
}
