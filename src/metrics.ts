// Prometheus metrics, one registry per process passed through deps (no module-level singleton).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
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
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  return {
    registry,
    webhookAttempts: new Counter({
      name: 'callgate_webhook_attempts_total', help: 'Webhook delivery attempts by outcome', labelNames: ['outcome'], registers: [registry],
    }),
    webhookFailures: new Counter({
      name: 'callgate_webhook_deliveries_failed_total', help: 'Webhook deliveries marked FAILED (retries exhausted or webhook disabled)',
      labelNames: ['reason'], registers: [registry],
    }),
    webhookDeliveryLatency: new Histogram({
      name: 'callgate_webhook_delivery_latency_seconds', help: 'Time from the event commit to a successful delivery',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86_400], registers: [registry],
    }),
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
    pending ??= deliveryBacklog(db, clock.now().toISOString()).finally(() => { setTimeout(() => { pending = null; }, 0); });
    return pending;
  };
  new Gauge({
    name: 'callgate_webhook_backlog_size', help: 'Deliveries due and not yet delivered (active webhooks)', registers: [metrics.registry],
    async collect() { this.set((await read()).size); },
  });
  new Gauge({
    name: 'callgate_webhook_backlog_oldest_age_seconds', help: 'Age of the oldest due, undelivered delivery (0 when none)', registers: [metrics.registry],
    async collect() {
      const { oldestDueAt } = await read();
      this.set(oldestDueAt === null ? 0 : Math.max(0, (clock.now().getTime() - Date.parse(oldestDueAt)) / 1000));
    },
  });
}

/** GET /metrics: Prometheus text exposition, no auth (keep it off the public listener in production), not in the OpenAPI. */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
