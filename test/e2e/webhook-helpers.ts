// Shared pieces of the webhook tests: events written the way the call service writes them (outbox +
// fan-out in one transaction), a worker on the test store, and verification with a published library.
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { SecretBox } from '../../src/auth/secret-box.ts';
import type { Config } from '../../src/config.ts';
import { type CallId, type EventId, type NumberId, newEventId, type TenantId } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics, type Metrics } from '../../src/metrics.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries } from '../../src/store/deliveries.ts';
import { enqueueEvent } from '../../src/store/events.ts';
import type { HostLookup } from '../../src/webhooks/url-guard.ts';
import { DeliveryWorker, type WorkerOptions } from '../../src/webhooks/worker.ts';
import type { ReceivedRequest } from '../fakes/webhook-receiver.ts';
import type { Json } from '../helpers/json.ts';
import { TEST_SECRET_KEY } from '../helpers/stores.ts';

export interface EventSpec {
  type: string;
  callId?: string;
  sequence?: number;
}

/** Commits events and their deliveries in one transaction, as persistTransition does. */
export async function emitEvents(
  db: Db,
  owner: { tenantId: TenantId; numberId: NumberId },
  specs: EventSpec[],
): Promise<EventId[]> {
  return db.transaction(async (tx) => {
    const ids: EventId[] = [];
    for (const spec of specs) {
      const id = newEventId();
      const now = new Date().toISOString();
      const callId = (spec.callId ?? null) as CallId | null;
      const sequence = spec.sequence ?? null;
      await enqueueEvent(tx, {
        id,
        tenantId: owner.tenantId,
        numberId: owner.numberId,
        callId,
        type: spec.type,
        sequence,
        payload: { event: spec.type, eventId: id, sequence, occurredAt: now, id: callId, numberId: owner.numberId },
        occurredAt: now,
        createdAt: now,
      });
      await enqueueDeliveries(tx, { id, numberId: owner.numberId, type: spec.type, callId, sequence, createdAt: now });
      ids.push(id);
    }
    return ids;
  });
}

export interface TestWorker {
  worker: DeliveryWorker;
  metrics: Metrics;
  stop(): Promise<void>;
}

export function startTestWorker(
  db: Db,
  config: Pick<Config, 'webhookRetryScheduleMs' | 'webhookTimeoutMs' | 'webhookAllowInsecureUrls'>,
  opts: { options?: Partial<WorkerOptions>; lookup?: HostLookup; metrics?: Metrics; logger?: Logger } = {},
): TestWorker {
  const metrics = opts.metrics ?? createMetrics();
  const worker = new DeliveryWorker({
    db,
    box: new SecretBox(TEST_SECRET_KEY),
    logger: opts.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    metrics,
    config,
    options: { pollIntervalMs: 20, ...opts.options },
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
  worker.start();
  return { worker, metrics, stop: () => worker.stop() };
}

/** The config of a worker for tests: loopback receivers allowed, short schedule and timeout. */
export function workerConfig(
  over: Partial<Pick<Config, 'webhookRetryScheduleMs' | 'webhookTimeoutMs' | 'webhookAllowInsecureUrls'>> = {},
) {
  return { webhookRetryScheduleMs: [0, 30, 60], webhookTimeoutMs: 1000, webhookAllowInsecureUrls: true, ...over };
}

function flatHeaders(r: ReceivedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (typeof v === 'string') {
      out[k] = v;
    }
  }
  return out;
}

/** Verifies a recorded delivery with the npm `standardwebhooks` library and returns the parsed body. */
export function verifyWith(secret: string, r: ReceivedRequest): Json {
  return new Webhook(secret).verify(r.rawBody, flatHeaders(r));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
