// Prometheus metrics, one registry per process passed through deps (no module-level singleton).
// prom-client loads on first use (a request counted, a delivery attempt, /metrics scraped), not at start-up:
// loading it is ~50 ms and a few MB that a process's start-up never needs to pay.
// Series (docs/operations.md lists them with their labels):
//   HTTP: requests by route/method/status and their latency; rate-limit rejections.
//   Calls: active calls by provider/status (read from the store at scrape time: every process sees the whole
//   store); ended calls by status/endedBy (counted after the commit that ended them, per process).
//   Providers: requests by provider/action/outcome and their latency; provider webhooks refused (signature, parse).
//   Webhooks: attempts by outcome, deliveries given up, delivery latency, backlog (waiting retries included).
//   Process: prom-client's defaults (CPU, memory, handles, GC, event-loop lag).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { Clock } from './clock.ts';
import { ApiError } from './errors.ts';
import { countActiveCalls } from './store/call-stats.ts';
import type { Db } from './store/db.ts';
import { deliveryBacklog } from './store/deliveries.ts';

export type AttemptOutcome = 'success' | 'http_error' | 'timeout' | 'network_error' | 'refused' | 'redirect';

interface Series {
  /** Every HTTP try, by outcome. */
  webhookAttempts: Counter<'outcome'>;
  /** Deliveries given up on: retries exhausted, or the webhook was disabled by a 410. */
  webhookFailures: Counter<'reason'>;
  /** From the event's commit to the receiver's 2xx. */
  webhookDeliveryLatency: Histogram;
  /** Answered API requests; route is the route's pattern (never the raw URL: bounded label values). */
  httpRequests: Counter<'route' | 'method' | 'status'>;
  httpDuration: Histogram<'route' | 'method'>;
  /** Requests refused with 429 by our own limiter, by bucket. */
  rateLimited: Counter<'rule'>;
  /** Every provider request, by outcome: ok, or the failure's category (lower case), or exception. */
  providerRequests: Counter<'provider' | 'action' | 'outcome'>;
  providerDuration: Histogram<'provider' | 'action'>;
  /** Provider webhooks refused: bad signature, or a body that does not parse. */
  providerWebhookRejections: Counter<'provider' | 'reason'>;
  /** Calls that ended, by final status and who ended them. */
  callsEnded: Counter<'status' | 'ended_by'>;
}

export interface Metrics extends Series {
  registry: Registry;
  /** Runs `add` once the registry exists (at once if it does), to register more metrics without loading prom-client now. */
  withRegistry(add: (registry: Registry, prom: PromClient) => void): void;
}

type PromClient = typeof import('prom-client');
const require = createRequire(import.meta.url);

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function makeSeries(prom: PromClient, registry: Registry): Series {
  const registers = [registry];
  return {
    webhookAttempts: new prom.Counter({
      name: 'callgate_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    webhookFailures: new prom.Counter({
      name: 'callgate_webhook_deliveries_failed_total',
      help: 'Webhook deliveries marked FAILED (retries exhausted or webhook disabled)',
      labelNames: ['reason'],
      registers,
    }),
    webhookDeliveryLatency: new prom.Histogram({
      name: 'callgate_webhook_delivery_latency_seconds',
      help: 'Time from the event commit to a successful delivery',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86_400],
      registers,
    }),
    httpRequests: new prom.Counter({
      name: 'callgate_http_requests_total',
      help: 'API requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    httpDuration: new prom.Histogram({
      name: 'callgate_http_request_duration_seconds',
      help: 'Time to answer an API request, by route pattern and method',
      labelNames: ['route', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    rateLimited: new prom.Counter({
      name: 'callgate_rate_limited_total',
      help: 'Requests refused with 429 by the per-key rate limit, by bucket (default, terminate)',
      labelNames: ['rule'],
      registers,
    }),
    providerRequests: new prom.Counter({
      name: 'callgate_provider_requests_total',
      help: 'Requests to providers by provider, action and outcome (ok, a failure category, or exception)',
      labelNames: ['provider', 'action', 'outcome'],
      registers,
    }),
    providerDuration: new prom.Histogram({
      name: 'callgate_provider_request_duration_seconds',
      help: 'Time a provider took to answer, by provider and action',
      labelNames: ['provider', 'action'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    providerWebhookRejections: new prom.Counter({
      name: 'callgate_provider_webhook_rejections_total',
      help: 'Provider webhooks refused, by provider and reason (signature, parse)',
      labelNames: ['provider', 'reason'],
      registers,
    }),
    callsEnded: new prom.Counter({
      name: 'callgate_calls_ended_total',
      help: 'Calls ended (counted after the commit), by final status and who ended them',
      labelNames: ['status', 'ended_by'],
      registers,
    }),
  };
}

export function createMetrics(): Metrics {
  let made: (Series & { prom: PromClient; registry: Registry }) | undefined;
  const waiting: ((registry: Registry, prom: PromClient) => void)[] = [];
  const make = () => {
    if (made) {
      return made;
    }
    const prom = require('prom-client') as PromClient;
    const registry = new prom.Registry();
    // Process CPU, memory, handles, GC and event-loop lag, under their usual names (process_*, nodejs_*).
    prom.collectDefaultMetrics({ register: registry });
    made = { prom, registry, ...makeSeries(prom, registry) };
    for (const add of waiting.splice(0)) {
      add(registry, prom);
    }
    return made;
  };
  // Reading any member builds the registry, so a count is never missed.
  const series = (name: keyof Series) => ({ get: () => make()[name], enumerable: true });
  const metrics = {
    get registry() {
      return make().registry;
    },
    withRegistry(add: (registry: Registry, prom: PromClient) => void) {
      if (made) {
        add(made.registry, made.prom);
      } else {
        waiting.push(add);
      }
    },
  };
  const names: (keyof Series)[] = [
    'webhookAttempts',
    'webhookFailures',
    'webhookDeliveryLatency',
    'httpRequests',
    'httpDuration',
    'rateLimited',
    'providerRequests',
    'providerDuration',
    'providerWebhookRejections',
    'callsEnded',
  ];
  for (const name of names) {
    Object.defineProperty(metrics, name, series(name));
  }
  return metrics as Metrics;
}

/**
 * Gauges read from the store at scrape time (webhook backlog, active calls), so any API process reports the
 * whole store, whichever process (or `callgate worker`) does the work.
 */
export function registerStoreGauges(metrics: Metrics, db: Db, clock: Clock): void {
  let pending: ReturnType<typeof deliveryBacklog> | null = null;
  // The backlog gauges come from one query per scrape.
  const read = () => {
    pending ??= deliveryBacklog(db, clock.now().toISOString()).finally(() => {
      setTimeout(() => {
        pending = null;
      }, 0);
    });
    return pending;
  };
  metrics.withRegistry((registry, { Gauge }) => {
    new Gauge({
      name: 'callgate_webhook_backlog_size',
      help: 'Deliveries not yet delivered (active webhooks), due now or waiting for a retry',
      registers: [registry],
      async collect() {
        this.set((await read()).size);
      },
    });
    new Gauge({
      name: 'callgate_webhook_backlog_waiting_retries',
      help: 'Deliveries of the backlog that failed at least once and wait for their next attempt',
      registers: [registry],
      async collect() {
        this.set((await read()).waitingRetries);
      },
    });
    new Gauge({
      name: 'callgate_webhook_backlog_oldest_age_seconds',
      help: "Age of the backlog's oldest delivery since its event was committed (0 when none)",
      registers: [registry],
      async collect() {
        const { oldestCreatedAt } = await read();
        this.set(
          oldestCreatedAt === null ? 0 : Math.max(0, (clock.now().getTime() - Date.parse(oldestCreatedAt)) / 1000),
        );
      },
    });
    new Gauge({
      name: 'callgate_calls_active',
      help: 'Calls not yet ended (INITIATED, RINGING, ACCEPTED), by provider and status',
      labelNames: ['provider', 'status'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { provider, status, count } of await countActiveCalls(db)) {
          this.set({ provider, status }, count);
        }
      },
    });
  });
}

/** Counts every answered request; a 429 of our limiter also counts as a rate-limit rejection. */
export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unrouted';
    if (route === '/metrics') {
      return;
    }
    const method = request.method;
    metrics.httpRequests.inc({ route, method, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route, method }, reply.elapsedTime / 1000);
    if (reply.statusCode === 429 && reply.getHeader('ratelimit-policy') !== undefined) {
      metrics.rateLimited.inc({ rule: request.routeOptions.config.rateLimit ?? 'default' });
    }
    // Provider webhooks (/providers/<name>/...): 401 is a signature refused, 400 a body that does not parse.
    const provider = /^\/providers\/([a-z-]+)\//.exec(route)?.[1];
    if (provider && method === 'POST' && (reply.statusCode === 401 || reply.statusCode === 400)) {
      metrics.providerWebhookRejections.inc({ provider, reason: reply.statusCode === 401 ? 'signature' : 'parse' });
    }
  });
}

/**
 * GET /metrics: Prometheus text exposition, not in the OpenAPI. With METRICS_TOKEN set it needs
 * `Authorization: Bearer <token>` (401 otherwise); without, it is open (keep it off the public listener).
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token: string | null): void {
  const allowed = bearerCheck(token);
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (!allowed(request.headers.authorization)) {
      throw new ApiError('UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer realm="metrics"' } });
    }
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}

/**
 * Whether an Authorization header carries the token (always, when there is none). Digests of equal length are
 * compared in constant time, so neither the token's bytes nor its length leak through timing.
 */
function bearerCheck(token: string | null): (authorization: string | undefined) => boolean {
  const expected = token === null ? null : sha256(`Bearer ${token}`);
  return (authorization) => {
    if (expected === null) {
      return true;
    }
    return timingSafeEqual(sha256(authorization ?? ''), expected);
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * GET /metrics for a process without the API (`callgate worker --metrics-port`): a plain node:http handler with
 * the same token and the same error envelope for the few answers it gives.
 */
export function metricsRequestHandler(metrics: Metrics, token: string | null) {
  const allowed = bearerCheck(token);
  const refuse = (res: ServerResponse, status: number, code: string, error: string, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify({ error, code }));
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      refuse(res, 404, 'NOT_FOUND', 'Route not found');
      return;
    }
    if (!allowed(req.headers.authorization)) {
      refuse(res, 401, 'UNAUTHORIZED', 'Unauthorized', { 'www-authenticate': 'Bearer realm="metrics"' });
      return;
    }
    metrics.registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
      },
      () => refuse(res, 500, 'INTERNAL_ERROR', 'Internal error'),
    );
  };
}
