// The delivery worker: claims due deliveries with a lease, POSTs them signed, records every try and
// schedules the next one. Runs in the API process (WORKERS=in-process) or alone (`callgate worker`);
// any number of them may share a store.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import { FailureLog } from '../failure-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/db.ts';
import { releaseLeases } from '../store/deliveries.ts';
import type { FinishedAttempt, Settlement } from '../store/delivery-attempts.ts';
import { type ClaimedDelivery, claimDueDeliveries } from '../store/delivery-claims.ts';
import { settleTries } from '../store/settle-tries.ts';
import { isStoreUnavailable } from '../store/unavailable.ts';
import { liveSecrets, parsePreviousSecrets } from './previous-secrets.ts';
import { nextAttemptDelayMs, parseRetryAfter } from './retry-schedule.ts';
import { type TryResult, WebhookSender } from './sender.ts';
import { signPayload } from './signing.ts';
import { checkWebhookUrlSyntax, type HostLookup } from './url-guard.ts';

export interface WorkerOptions {
  /** How often to look for due deliveries when nothing woke the worker. */
  pollIntervalMs: number;
  /** Most deliveries taken per claim (one transaction). */
  batchSize: number;
  /** Most attempts this worker runs at once, over all webhooks. */
  maxInFlight: number;
  /** Most attempts in flight for one webhook (over every worker sharing the store, per claim); answered ones do not count. */
  perWebhookInFlight: number;
  /** How long a claim is owned; a crashed worker's deliveries are taken again after it. Longer than the timeout. */
  leaseMs: number;
  /** On stop, how long to let running attempts finish before abandoning them (their leases are given back). */
  stopGraceMs: number;
}

/**
 * Per webhook: enough attempts at once to carry ~1,000 events/s to one receiver, while a hanging receiver holds only
 * these. It takes 16 hanging receivers to fill a worker's default maxInFlight (512), as it did with 4 of 64 before.
 */
const DEFAULT_PER_WEBHOOK_IN_FLIGHT = 32;

export interface WorkerDeps {
  db: Db;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  config: Pick<Config, 'webhookRetryScheduleMs' | 'webhookTimeoutMs' | 'webhookAllowInsecureUrls'>;
  clock?: Clock;
  options?: Partial<WorkerOptions>;
  /** DNS for the connect-time SSRF check; tests inject one. */
  lookup?: HostLookup;
}

interface InFlight {
  delivery: ClaimedDelivery;
  abort: AbortController;
  done: Promise<void>;
}

/** A try that is over and waits to be recorded with others in one transaction. */
interface Finished {
  delivery: ClaimedDelivery;
  record: FinishedAttempt;
  succeeded: boolean;
  gone: boolean;
  finishedAt: Date;
  unanswered?: boolean;
}

/** Most finished tries recorded per transaction. */
const SETTLE_BATCH = 256;
const GONE_REASON = 'receiver answered 410 Gone';

function readVersion(): string {
  try {
    return JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const USER_AGENT = `callgate/${readVersion()}`;

export class DeliveryWorker {
  readonly #d: WorkerDeps;
  readonly #clock: Clock;
  readonly #opts: WorkerOptions;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #finished: Finished[] = [];
  #settling = 0;
  /** Per webhook: tries that are over and not yet recorded. Their leases no longer count against the webhook's cap. */
  readonly #answered = new Map<string, number>();
  #flushing: Promise<void> | null = null;
  #sender: WebhookSender | null = null;
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> | null = null;
  #wokenDuringTick = false;
  readonly #claimFailures: FailureLog;

  constructor(deps: WorkerDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#claimFailures = new FailureLog(
      deps.logger,
      { failed: 'webhook worker could not claim deliveries', recovered: 'webhook worker claims deliveries again' },
      () => this.#clock.now().getTime(),
    );
    const timeout = deps.config.webhookTimeoutMs;
    this.#opts = {
      pollIntervalMs: 100,
      batchSize: 100,
      maxInFlight: 512,
      perWebhookInFlight: DEFAULT_PER_WEBHOOK_IN_FLIGHT,
      leaseMs: 2 * timeout + 1000,
      stopGraceMs: Math.min(timeout, 5000),
      ...deps.options,
    };
  }

  /** Attempts sending, or sent and not yet recorded: they all hold a lease and a slot. */
  get inFlightCount(): number {
    return this.#inFlight.size + this.#finished.length + this.#settling;
  }

  start(): void {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#schedule(0);
  }

  /** Look for due deliveries now (deliveries were just queued, or a slot freed up). */
  wake(): void {
    if (!this.#running) {
      return;
    }
    if (this.#tick) {
      this.#wokenDuringTick = true;
    } else {
      this.#schedule(0);
    }
  }

  /** Stops claiming, lets running attempts finish for a while, then abandons the rest and gives their leases back. */
  async stop(graceMs = this.#opts.stopGraceMs): Promise<void> {
    this.#running = false;
    if (this.#timer) {
      clearTimeout(this.#timer);
    }
    this.#timer = null;
    await this.#tick;
    const all = Promise.allSettled([...this.#inFlight.values()].map((f) => f.done));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise((resolve) => {
        grace = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(grace);
    const left = [...this.#inFlight.values()];
    for (const f of left) {
      f.abort.abort();
    }
    await Promise.allSettled(left.map((f) => f.done));
    // Finished tries are recorded before any lease is given back: a released lease would make their results void.
    while (this.#flushing || this.#finished.length > 0) {
      this.#flushSoon();
      await this.#flushing;
    }
    this.#sender?.close();
    this.#sender = null;
    if (left.length === 0) {
      return;
    }
    const byToken = new Map<string, { webhookId: string; eventId: string }[]>();
    for (const { delivery: d } of left) {
      byToken.set(d.leaseToken, [...(byToken.get(d.leaseToken) ?? []), d]);
    }
    const now = this.#clock.now().toISOString();
    for (const [token, keys] of byToken) {
      await releaseLeases(this.#d.db, token, keys, now).catch((err) =>
        this.#d.logger.warn({ err: (err as Error).message }, 'could not release webhook leases'),
      );
    }
    this.#d.logger.info(
      { abandoned: left.length },
      'webhook worker stopped with attempts abandoned; their leases were released',
    );
  }

  #schedule(ms: number): void {
    if (!this.#running) {
      return;
    }
    if (this.#timer) {
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Only a poll has to look first; a wake-up (and the very first look) goes straight to the claim.
      this.#tick = this.#claimAndSend(ms > 0).then((healthy) => {
        this.#tick = null;
        const again = this.#wokenDuringTick;
        this.#wokenDuringTick = false;
        // The store is down: look again in a while, not every poll (the log would drown).
        this.#schedule(!healthy ? Math.max(1000, this.#opts.pollIntervalMs) : again ? 0 : this.#opts.pollIntervalMs);
      });
    }, ms);
  }

  /** Claims and starts due deliveries until none are left or there is no room; false when the store failed. */
  async #claimAndSend(look: boolean): Promise<boolean> {
    try {
      for (let first = true; this.#running; first = false) {
        const room = this.#opts.maxInFlight - this.inFlightCount;
        if (room <= 0) {
          return true;
        }
        const limit = Math.min(this.#opts.batchSize, room);
        const now = this.#clock.now();
        const claimed = await claimDueDeliveries(this.#d.db, {
          now: now.toISOString(),
          leaseUntil: new Date(now.getTime() + this.#opts.leaseMs).toISOString(),
          token: randomBytes(12).toString('base64url'),
          limit,
          perWebhookLimit: this.#opts.perWebhookInFlight,
          look: look && first,
          answered: this.#answered,
        });
        this.#claimFailures.ok();
        for (const delivery of claimed) {
          this.#start(delivery);
        }
        // A claim takes what every webhook allows: fewer than asked means nothing else can go now.
        if (claimed.length < limit) {
          return true;
        }
      }
      return true;
    } catch (err) {
      this.#claimFailures.failed((err as Error).message);
      return false;
    }
  }

  #start(delivery: ClaimedDelivery): void {
    const key = `${delivery.webhookId} ${delivery.eventId}`;
    const abort = new AbortController();
    const done = this.#attempt(delivery, abort.signal)
      .catch((err) =>
        this.#d.logger.error(
          { err: (err as Error).message, webhookId: delivery.webhookId, eventId: delivery.eventId },
          'webhook attempt failed',
        ),
      )
      .finally(() => {
        this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, { delivery, abort, done });
  }

  /** One try; its result joins the next batch to record. */
  async #attempt(d: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const startedAt = this.#clock.now();
    const started = performance.now();
    const result = await this.#send(d, signal);
    if (result.aborted) {
      return; // stop() gives the lease back; the try is not counted
    }
    const durationMs = Math.round(performance.now() - started);
    this.#d.metrics.webhookAttempts.inc({ outcome: result.outcome });
    const now = this.#clock.now();
    const succeeded = result.outcome === 'success';
    const gone = result.statusCode === 410;
    let settlement: Settlement;
    if (succeeded) {
      settlement = { status: 'SUCCESS' };
    } else if (gone) {
      settlement = { status: 'FAILED' };
    } else {
      const delay = nextAttemptDelayMs({
        attempt: d.attempt,
        schedule: this.#d.config.webhookRetryScheduleMs,
        retryAfterSeconds: parseRetryAfter(result.retryAfter, now.getTime()),
        timedOut: result.outcome === 'timeout',
        rateLimited: result.statusCode === 429,
      });
      settlement =
        delay === null
          ? { status: 'FAILED' }
          : { status: 'PENDING', nextAttemptAt: new Date(now.getTime() + delay).toISOString() };
    }
    this.#finished.push({
      delivery: d,
      succeeded,
      gone,
      finishedAt: now,
      record: {
        attempt: {
          webhookId: d.webhookId,
          eventId: d.eventId,
          eventType: d.eventType,
          attempt: d.attempt,
          status: succeeded ? 'SUCCESS' : 'FAILED',
          statusCode: result.statusCode,
          durationMs,
          error: result.error,
          responseBody: result.responseBody,
          createdAt: startedAt.toISOString(),
        },
        token: d.leaseToken,
        settlement,
        deliveryError: gone ? GONE_REASON : result.error,
      },
    });
    this.#flushSoon();
    // The receiver has a free slot now, before the result is recorded. Not after a 410: nothing more is sent
    // to a webhook that said it is gone while that is being recorded.
    if (gone) {
      return;
    }
    this.#answered.set(d.webhookId, (this.#answered.get(d.webhookId) ?? 0) + 1);
    this.wake();
  }

  /**
   * Records finished tries, many per transaction: one starts as soon as a try finishes and none is running
   * (after the current turn of the event loop, so tries answered together share it); tries finishing
   * meanwhile wait for the next one.
   */
  #flushSoon(): void {
    if (this.#flushing) {
      return;
    }
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#flushAll())
      .finally(() => {
        this.#flushing = null;
        if (this.#finished.length > 0) {
          this.#flushSoon();
        }
      });
  }

  async #flushAll(): Promise<void> {
    while (this.#finished.length > 0) {
      const batch = this.#finished.splice(0, SETTLE_BATCH);
      this.#settling += batch.length;
      try {
        await this.#settle(batch);
      } finally {
        this.#settling -= batch.length;
        this.#unanswer(batch);
      }
      this.wake(); // slots are free, and the calls' next events may now be due
    }
  }

  async #settle(batch: Finished[]): Promise<void> {
    const now = this.#clock.now().toISOString();
    let settled: Set<string>;
    try {
      settled = await this.#d.db.transaction((tx) => this.#record(tx, batch, now));
    } catch (err) {
      settled = new Set();
      if (isStoreUnavailable(err)) {
        // Their leases expire and the deliveries are sent again: at least once.
        this.#d.logger.error({ err: (err as Error).message, attempts: batch.length }, 'webhook attempts not recorded');
      } else {
        // One bad row must not lose the others: each alone.
        for (const f of batch) {
          try {
            for (const key of await this.#d.db.transaction((tx) => this.#record(tx, [f], now))) {
              settled.add(key);
            }
          } catch (one) {
            this.#d.logger.error(
              { err: (one as Error).message, webhookId: f.delivery.webhookId, eventId: f.delivery.eventId },
              'webhook attempt not recorded',
            );
          }
        }
      }
    }
    for (const f of batch) {
      const d = f.delivery;
      const isSettled = settled.has(`${d.webhookId} ${d.eventId}`);
      const attempt = f.record.attempt;
      if (!f.succeeded && isSettled) {
        const next = f.record.settlement.status === 'PENDING' ? f.record.settlement.nextAttemptAt : null;
        this.#d.logger.warn(
          {
            webhookId: d.webhookId,
            eventId: d.eventId,
            event: d.eventType,
            callId: callIdOf(d.payload),
            attempt: attempt.attempt,
            statusCode: attempt.statusCode,
            error: attempt.error,
            durationMs: attempt.durationMs,
            nextAttemptAt: next,
          },
          next
            ? `webhook attempt ${attempt.attempt} failed (${attempt.statusCode ?? attempt.error}); next attempt at ${next}`
            : `webhook attempt ${attempt.attempt} failed (${attempt.statusCode ?? attempt.error}); no attempt left`,
        );
      }
      if (f.gone) {
        this.#d.metrics.webhookFailures.inc({ reason: 'gone' });
        this.#d.logger.error(
          { webhookId: d.webhookId, eventId: d.eventId },
          'webhook disabled: the receiver answered 410 Gone; its pending deliveries failed',
        );
      } else if (isSettled && f.succeeded) {
        this.#d.metrics.webhookDeliveryLatency.observe(
          Math.max(0, f.finishedAt.getTime() - Date.parse(d.createdAt)) / 1000,
        );
      } else if (isSettled && f.record.settlement.status === 'FAILED') {
        this.#d.metrics.webhookFailures.inc({ reason: 'exhausted' });
        this.#d.logger.error(
          { webhookId: d.webhookId, eventId: d.eventId, callId: callIdOf(d.payload), attempts: d.attempt },
          'webhook delivery failed after its last attempt; given up',
        );
      }
    }
  }

  /** The attempt rows and delivery updates of a batch; a 410 also turns its webhook off and fails what it had pending. */
  async #record(tx: Db, batch: Finished[], now: string): Promise<Set<string>> {
    const settled = await settleTries(tx, batch, GONE_REASON, now);
    // Before the commit, not after: a claim that sees these leases gone must not subtract them again
    // (if the commit fails, the leases stay and simply count until they expire).
    this.#unanswer(batch);
    return settled;
  }

  #unanswer(batch: Finished[]): void {
    for (const f of batch) {
      if (f.unanswered || f.gone) {
        continue;
      }
      f.unanswered = true;
      const left = (this.#answered.get(f.delivery.webhookId) ?? 1) - 1;
      if (left > 0) {
        this.#answered.set(f.delivery.webhookId, left);
      } else {
        this.#answered.delete(f.delivery.webhookId);
      }
    }
  }

  /** Signs and sends one try. Never throws: every way it can go wrong is a result. */
  #send(d: ClaimedDelivery, signal: AbortSignal): Promise<TryResult> {
    const refused = (error: string): TryResult => ({
      outcome: 'refused',
      error,
      statusCode: null,
      responseBody: null,
      retryAfter: null,
      aborted: false,
    });
    // Literal addresses never reach the lookup, so the registration rule is checked again here.
    const check = checkWebhookUrlSyntax(d.url, this.#d.config.webhookAllowInsecureUrls);
    if (!check.ok) {
      return Promise.resolve(refused(`refused: ${check.reason}`));
    }
    const nowMs = this.#clock.now().getTime();
    let secrets: string[];
    try {
      secrets = [this.#d.box.open(d.secret)];
      // The row's expiry is the latest of its previous secrets': past it, none signs (and none is opened).
      if (d.previousSecret && d.previousSecretExpiresAt && Date.parse(d.previousSecretExpiresAt) > nowMs) {
        const previous = parsePreviousSecrets(this.#d.box.open(d.previousSecret), d.previousSecretExpiresAt);
        secrets.push(...liveSecrets(previous, nowMs));
      }
    } catch {
      return Promise.resolve(refused('the signing secret cannot be opened (was SECRET_KEY changed?)'));
    }
    const timestamp = Math.floor(nowMs / 1000);
    this.#sender ??= new WebhookSender(this.#d.config.webhookAllowInsecureUrls, this.#d.lookup);
    return this.#sender.send(
      {
        url: check.url.href,
        body: d.payload,
        timeoutMs: this.#d.config.webhookTimeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': d.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signPayload(secrets, d.eventId, timestamp, d.payload),
          'webhook-attempt': String(d.attempt),
        },
      },
      signal,
    );
  }
}

/**
 * The call an event is about, for log lines (read only when something failed): a call's own events carry it as
 * `id` (the call object), call.recording_ready as `callId`.
 */
export function callIdOf(payload: string): string | null {
  try {
    const event = JSON.parse(payload) as { id?: unknown; callId?: unknown };
    const id = typeof event.callId === 'string' ? event.callId : event.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
