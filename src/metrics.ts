// Prometheus metrics, one registry per process passed through deps (no module-level singleton).
// prom-client loads on first use (a request counted, a delivery attempt, /metrics scraped), not at start-up:
// loading it is ~50 ms and a few MB that a process's start-up never needs to pay.
// Series (docs/operations.md lists them with their labels):
//   HTTP: requests by route/method/status and their latency; rate-limit rejections.
//   Calls: active calls by provider/status (read from the store at scrape time: every process sees the whole
//   store); ended calls by status/endedBy (counted after the commit that ended them, per process).
//   Providers: requests by provider/action/outcome and their latency; provider webhooks refused (signature, parse).
//   Webhooks: attempts by outcome, deliveries given up, delivery latency, backlog (waiting retries included).
//   Media (this process's server media): sessions and capacity, refusals, ends by reason, first audio, frames paced
//   (late and skipped: the sign of an overloaded process), realtime sockets and the frames they dropped.
//   Process: prom-client's defaults (CPU, memory, handles, GC, event-loop lag).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { Clock } from './clock.ts';
import { ApiError } from './errors.ts';
import type { MediaObserver } from './media/engine/engine.ts';
import type { RealtimeTally } from './media/engine/realtime-hub.ts';
import { type FramePacing, LATE_MS } from './media/rtc/frame-clock.ts';
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
  /** Server-media answers and offers refused: capacity (full or off), overloaded (frames late) or bad_offer. */
  mediaRefused: Counter<'reason'>;
  /** Server-media sessions ended, by reason (call_ended, media_timeout, shutdown). */
  mediaEnded: Counter<'reason'>;
  /** From the SDP exchange to the peer's first audio packet. */
  mediaFirstAudio: Histogram;
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
    mediaRefused: new prom.Counter({
      name: 'callgate_media_sessions_refused_total',
      help: 'Server-media answers and offers refused, by reason (capacity: full or off; overloaded; bad_offer)',
      labelNames: ['reason'],
      registers,
    }),
    mediaEnded: new prom.Counter({
      name: 'callgate_media_sessions_ended_total',
      help: 'Server-media sessions ended, by reason (call_ended, media_timeout, shutdown)',
      labelNames: ['reason'],
      registers,
    }),
    mediaFirstAudio: new prom.Histogram({
      name: 'callgate_media_first_audio_seconds',
      help: "Time from the SDP exchange to the peer's first audio packet (ICE, DTLS, first frame)",
      buckets: [0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10],
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
    'mediaRefused',
    'mediaEnded',
    'mediaFirstAudio',
  ];
  for (const name of names) {
    Object.defineProperty(metrics, name, series(name));
  }
  return metrics as Metrics;
}

/**
 * Gauges read from the store at scrape time (webhook backlog, active calls), so any API process reports the
 * whole store, whichever process (or `callgate worker`) does the work. A store that cannot be read leaves them
 * without a sample, not the scrape without an answer: during a database outage the 5xx rates and the process
 * series are what an operator needs, and a failed scrape would hide them.
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
  const readOrNull = () => read().catch(() => null);
  metrics.withRegistry((registry, { Gauge }) => {
    new Gauge({
      name: 'callgate_webhook_backlog_size',
      help: 'Deliveries not yet delivered (active webhooks), due now or waiting for a retry',
      registers: [registry],
      async collect() {
        const backlog = await readOrNull();
        if (backlog === null) {
          this.remove();
          return;
        }
        this.set(backlog.size);
      },
    });
    new Gauge({
      name: 'callgate_webhook_backlog_waiting_retries',
      help: 'Deliveries of the backlog that failed at least once and wait for their next attempt',
      registers: [registry],
      async collect() {
        const backlog = await readOrNull();
        if (backlog === null) {
          this.remove();
          return;
        }
        this.set(backlog.waitingRetries);
      },
    });
    new Gauge({
      name: 'callgate_webhook_backlog_oldest_age_seconds',
      help: "Age of the backlog's oldest delivery since its event was committed (0 when none)",
      registers: [registry],
      async collect() {
        const backlog = await readOrNull();
        if (backlog === null) {
          this.remove();
          return;
        }
        const { oldestCreatedAt } = backlog;
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
        const active = await countActiveCalls(db).catch(() => null);
        for (const { provider, status, count } of active ?? []) {
          this.set({ provider, status }, count);
        }
      },
    });
  });
}

/** What the media gauges read at scrape time: the engine's live state and counts kept outside prom-client. */
export interface MediaSource {
  readonly size: number;
  readonly maxSessions: number;
  pacing(): FramePacing;
  workerLoad(): number[];
  readonly realtime: { readonly tally: RealtimeTally };
}

/** The engine's observer: a few events per call go straight into their series. */
export function mediaObserver(metrics: Metrics): MediaObserver {
  return {
    refused: (reason) => metrics.mediaRefused.inc({ reason }),
    ended: (reason) => metrics.mediaEnded.inc({ reason }),
    firstAudio: (ms) => metrics.mediaFirstAudio.observe(ms / 1000),
  };
}

/** Gauges and counters read from the media engine at scrape time (per frame, counting is a plain number). */
export function registerMediaMetrics(metrics: Metrics, media: MediaSource): void {
  metrics.withRegistry((registry, { Counter, Gauge }) => {
    const registers = [registry];
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    gauge('callgate_media_sessions', "Server-media sessions this process holds (its calls' media)", () => media.size);
    gauge('callgate_media_sessions_max', 'MEDIA_MAX_SESSIONS (0 with MEDIA_ENGINE=off)', () => media.maxSessions);
    counter(
      'callgate_media_frames_sent_total',
      'Audio frames paced to peers (one per call per 20 ms)',
      () => media.pacing().frames,
    );
    counter(
      'callgate_media_frames_late_total',
      `Frames sent more than ${LATE_MS} ms after they were due (the process is too busy to pace them)`,
      () => media.pacing().late,
    );
    counter(
      'callgate_media_frames_skipped_total',
      'Frames not sent at all after a stall of more than 100 ms (the RTP clock jumps instead)',
      () => media.pacing().skipped,
    );
    gauge(
      'callgate_media_realtime_sockets',
      'Realtime WebSockets open on this process',
      () => media.realtime.tally.open,
    );
    counter(
      'callgate_media_realtime_frames_dropped_total',
      'Caller frames not sent to a realtime client that stopped reading (over 512 KiB unsent)',
      () => media.realtime.tally.framesDropped,
    );
    new Gauge({
      name: 'callgate_media_worker_sessions',
      help: 'Sessions on each media worker thread (MEDIA_WORKERS; none without)',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        media.workerLoad().forEach((n, i) => {
          this.set({ worker: String(i) }, n);
        });
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
