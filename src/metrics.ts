// Prometheus metrics, one registry per process passed through deps (no module-level singleton).
// prom-client loads on first use (a delivery attempt counted, /metrics scraped), not at start-up: loading it is
// ~50 ms and a few MB, which a process that delivers nothing and is not scraped never needs.
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { Clock } from './clock.ts';
import type { Db } from './store/db.ts';
import { deliveryBacklog } from './store/deliveries.ts';

export type AttemptOutcome = 'success' | 'http_error' | 'timeout' | 'network_error' | 'refused' | 'redirect';

export interface Metrics {
  registry: Registry;
  /** Every HTTP try, by outcome. */
  webhookAttempts: Counter<'outcome'>;
  /** Deliveries given up on: retries exhausted, or the webhook was disabled by a 410. */
  webhookFailures: Counter<'reason'>;
  /** From the event's commit to the receiver's 2xx. */
  webhookDeliveryLatency: Histogram;
  /** Runs `add` once the registry exists (at once if it does), to register more metrics without loading prom-client now. */
  withRegistry(add: (registry: Registry, prom: PromClient) => void): void;
}

type PromClient = typeof import('prom-client');
const require = createRequire(import.meta.url);

export function createMetrics(): Metrics {
  let made:
    | {
        prom: PromClient;
        registry: Registry;
        webhookAttempts: Counter<'outcome'>;
        webhookFailures: Counter<'reason'>;
        webhookDeliveryLatency: Histogram;
      }
    | undefined;
  const waiting: ((registry: Registry, prom: PromClient) => void)[] = [];
  const make = () => {
    if (made) {
      return made;
    }
    const prom = require('prom-client') as PromClient;
    const registry = new prom.Registry();
    made = {
      prom,
      registry,
      webhookAttempts: new prom.Counter({
        name: 'callgate_webhook_attempts_total',
        help: 'Webhook delivery attempts by outcome',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      webhookFailures: new prom.Counter({
        name: 'callgate_webhook_deliveries_failed_total',
        help: 'Webhook deliveries marked FAILED (retries exhausted or webhook disabled)',
        labelNames: ['reason'],
        registers: [registry],
      }),
      webhookDeliveryLatency: new prom.Histogram({
        name: 'callgate_webhook_delivery_latency_seconds',
        help: 'Time from the event commit to a successful delivery',
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86_400],
        registers: [registry],
      }),
    };
    for (const add of waiting.splice(0)) {
      add(registry, prom);
    }
    return made;
  };
  // Reading any member builds the registry, so a counter is never missed.
  return {
    get registry() {
      return make().registry;
    },
    get webhookAttempts() {
      return make().webhookAttempts;
    },
    get webhookFailures() {
      return make().webhookFailures;
    },
    get webhookDeliveryLatency() {
      return make().webhookDeliveryLatency;
    },
    withRegistry(add) {
      if (made) {
        add(made.registry, made.prom);
      } else {
        waiting.push(add);
      }
    },
  };
}

/**
 * Backlog gauges read from the store at scrape time, so any API process reports the whole backlog,
 * whichever process (or `callgate worker`) delivers it.
 */
export function registerBacklogGauges(metrics: Metrics, db: Db, clock: Clock): void {
  let pending: Promise<{ size: number; oldestDueAt: string | null }> | null = null;
  // Both gauges come from one query per scrape.
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
      help: 'Deliveries due and not yet delivered (active webhooks)',
      registers: [registry],
      async collect() {
        this.set((await read()).size);
      },
    });
    new Gauge({
      name: 'callgate_webhook_backlog_oldest_age_seconds',
      help: 'Age of the oldest due, undelivered delivery (0 when none)',
      registers: [registry],
      async collect() {
        const { oldestDueAt } = await read();
        this.set(oldestDueAt === null ? 0 : Math.max(0, (clock.now().getTime() - Date.parse(oldestDueAt)) / 1000));
      },
    });
  });
}

/** GET /metrics: Prometheus text exposition, no auth (keep it off the public listener in production), not in the OpenAPI. */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
