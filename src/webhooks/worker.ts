// The delivery worker: claims due deliveries with a lease, POSTs them signed, records every try and
// schedules the next one. Runs in the API process (WORKERS=in-process) or alone (`callgate worker`);
// any number of them may share a store.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { AttemptOutcome, Metrics } from '../metrics.ts';
import type { Db } from '../store/db.ts';
import {
  claimDueDeliveries, failPendingDeliveriesOfWebhook, insertAttempt, releaseLeases, settleDelivery, type ClaimedDelivery, type Settlement,
} from '../store/deliveries.ts';
import { disableWebhook } from '../store/webhooks.ts';
import { nextAttemptDelayMs, parseRetryAfter } from './retry-schedule.ts';
import { signPayload } from './signing.ts';
import { ADDRESS_REFUSED_CODE, checkWebhookUrlSyntax, pinnedLookup, type HostLookup } from './url-guard.ts';

export interface WorkerOptions {
  /** How often to look for due deliveries when nothing woke the worker. */
  pollIntervalMs: number;
  /** Most deliveries taken per claim. */
  batchSize: number;
  /** Most attempts this worker runs at once, over all webhooks. */
  maxInFlight: number;
  /** Most attempts in flight for one webhook (over every worker sharing the store, per claim). */
  perWebhookInFlight: number;
  /** How long a claim is owned; a crashed worker's deliveries are taken again after it. Longer than the timeout. */
  leaseMs: number;
  /** On stop, how long to let running attempts finish before abandoning them (their leases are given back). */
  stopGraceMs: number;
}

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

/** What one HTTP try gave. */
interface TryResult {
  outcome: AttemptOutcome;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  retryAfterSeconds: number | null;
  aborted: boolean;
}

interface InFlight { delivery: ClaimedDelivery; abort: AbortController; done: Promise<void> }

const MAX_RESPONSE_BYTES = 1024;
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
  readonly #lookup: ReturnType<typeof pinnedLookup>;
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> | null = null;
  #wokenDuringTick = false;

  constructor(deps: WorkerDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
    const timeout = deps.config.webhookTimeoutMs;
    this.#opts = {
      pollIntervalMs: 100, batchSize: 20, maxInFlight: 64, perWebhookInFlight: 4,
      leaseMs: 2 * timeout + 1000, stopGraceMs: Math.min(timeout, 5000), ...deps.options,
    };
    this.#lookup = pinnedLookup(deps.config.webhookAllowInsecureUrls, deps.lookup);
  }

  get inFlightCount(): number { return this.#inFlight.size; }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Look for due deliveries now (an event was just committed, or a slot freed up). */
  wake(): void {
    if (!this.#running) return;
    if (this.#tick) this.#wokenDuringTick = true;
    else this.#schedule(0);
  }

  /** Stops claiming, lets running attempts finish for a while, then abandons the rest and gives their leases back. */
  async stop(graceMs = this.#opts.stopGraceMs): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#tick;
    const all = Promise.allSettled([...this.#inFlight.values()].map((f) => f.done));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => { grace = setTimeout(resolve, graceMs); })]);
    clearTimeout(grace);
    const left = [...this.#inFlight.values()];
    if (left.length === 0) return;
    for (const f of left) f.abort.abort();
    await Promise.allSettled(left.map((f) => f.done));
    const byToken = new Map<string, { webhookId: string; eventId: string }[]>();
    for (const { delivery: d } of left) byToken.set(d.leaseToken, [...(byToken.get(d.leaseToken) ?? []), d]);
    const now = this.#clock.now().toISOString();
    for (const [token, keys] of byToken) {
      await releaseLeases(this.#d.db, token, keys, now).catch((err) => this.#d.logger.warn({ err: (err as Error).message }, 'could not release webhook leases'));
    }
    this.#d.logger.info({ abandoned: left.length }, 'webhook worker stopped with attempts abandoned; their leases were released');
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#tick = this.#claimAndSend().then((healthy) => {
        this.#tick = null;
        const again = this.#wokenDuringTick;
        this.#wokenDuringTick = false;
        // The store is down: look again in a while, not every poll (the log would drown).
        this.#schedule(!healthy ? Math.max(1000, this.#opts.pollIntervalMs) : again ? 0 : this.#opts.pollIntervalMs);
      });
    }, ms);
  }

  /** Claims and starts due deliveries until none are left or there is no room; false when the store failed. */
  async #claimAndSend(): Promise<boolean> {
    try {
      while (this.#running) {
        const room = this.#opts.maxInFlight - this.#inFlight.size;
        if (room <= 0) return true;
        const now = this.#clock.now();
        const claimed = await claimDueDeliveries(this.#d.db, {
          now: now.toISOString(), leaseUntil: new Date(now.getTime() + this.#opts.leaseMs).toISOString(),
          token: randomBytes(12).toString('base64url'), limit: Math.min(this.#opts.batchSize, room), perWebhookLimit: this.#opts.perWebhookInFlight,
        });
        for (const delivery of claimed) this.#start(delivery);
        if (claimed.length === 0) return true;
      }
      return true;
    } catch (err) {
      this.#d.logger.warn({ err: (err as Error).message }, 'webhook worker could not claim deliveries');
      return false;
    }
  }

  #start(delivery: ClaimedDelivery): void {
    const key = `${delivery.webhookId} ${delivery.eventId}`;
    const abort = new AbortController();
    const done = this.#deliver(delivery, abort.signal)
      .catch((err) => this.#d.logger.error({ err: (err as Error).message, webhookId: delivery.webhookId, eventId: delivery.eventId }, 'webhook attempt not recorded'))
      .finally(() => {
        this.#inFlight.delete(key);
        this.wake(); // a slot is free, and the call's next event may now be due
      });
    this.#inFlight.set(key, { delivery, abort, done });
  }

  async #deliver(d: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const startedAt = this.#clock.now();
    const started = performance.now();
    const result = await this.#send(d, signal);
    if (result.aborted) return; // stop() gives the lease back; the try is not counted
    const durationMs = Math.round(performance.now() - started);
    this.#d.metrics.webhookAttempts.inc({ outcome: result.outcome });
    const now = this.#clock.now();
    const nowIso = now.toISOString();
    const succeeded = result.outcome === 'success';
    const gone = result.statusCode === 410;
    let settlement: Settlement;
    if (succeeded) settlement = { status: 'SUCCESS' };
    else if (gone) settlement = { status: 'FAILED' };
    else {
      const delay = nextAttemptDelayMs({
        attempt: d.attempt, schedule: this.#d.config.webhookRetryScheduleMs, retryAfterSeconds: result.retryAfterSeconds,
        timedOut: result.outcome === 'timeout', rateLimited: result.statusCode === 429,
      });
      settlement = delay === null ? { status: 'FAILED' } : { status: 'PENDING', nextAttemptAt: new Date(now.getTime() + delay).toISOString() };
    }

    const settled = await this.#d.db.transaction(async (tx) => {
      try {
        await insertAttempt(tx, {
          webhookId: d.webhookId, eventId: d.eventId, eventType: d.eventType, attempt: d.attempt, status: succeeded ? 'SUCCESS' : 'FAILED',
          statusCode: result.statusCode, durationMs, error: result.error, responseBody: result.responseBody, createdAt: startedAt.toISOString(),
        });
      } catch (err) {
        // The webhook was deleted while we were sending: nothing left to record.
        if ((await tx.query('SELECT 1 AS ok FROM webhooks WHERE id = $1', [d.webhookId])).length === 0) return false;
        throw err;
      }
      const changed = await settleDelivery(tx, { webhookId: d.webhookId, eventId: d.eventId, token: d.leaseToken }, {
        ...settlement, attempt: d.attempt, statusCode: result.statusCode, error: gone ? GONE_REASON : result.error, now: nowIso,
      });
      if (gone) {
        await disableWebhook(tx, d.webhookId, GONE_REASON, nowIso);
        await failPendingDeliveriesOfWebhook(tx, d.webhookId, `webhook disabled: ${GONE_REASON}`, nowIso);
      }
      return changed;
    });

    if (gone) {
      this.#d.metrics.webhookFailures.inc({ reason: 'gone' });
      this.#d.logger.warn({ webhookId: d.webhookId }, 'webhook disabled: the receiver answered 410 Gone');
    } else if (settled && succeeded) {
      this.#d.metrics.webhookDeliveryLatency.observe(Math.max(0, now.getTime() - Date.parse(d.createdAt)) / 1000);
    } else if (settled && settlement.status === 'FAILED') {
      this.#d.metrics.webhookFailures.inc({ reason: 'exhausted' });
      this.#d.logger.warn({ webhookId: d.webhookId, eventId: d.eventId, attempts: d.attempt }, 'webhook delivery failed after its last attempt');
    }
  }

  /** One signed POST. Never throws: every way it can go wrong is a result. */
  #send(d: ClaimedDelivery, signal: AbortSignal): Promise<TryResult> {
    const allowInsecure = this.#d.config.webhookAllowInsecureUrls;
    const fail = (outcome: AttemptOutcome, error: string, extra: Partial<TryResult> = {}): TryResult => ({
      outcome, error, statusCode: null, responseBody: null, retryAfterSeconds: null, aborted: false, ...extra,
    });
    // Literal addresses never reach the lookup, so the registration rule is checked again here.
    const check = checkWebhookUrlSyntax(d.url, allowInsecure);
    if (!check.ok) return Promise.resolve(fail('refused', `refused: ${check.reason}`));

    const nowMs = this.#clock.now().getTime();
    let secrets: string[];
    try {
      secrets = [this.#d.box.open(d.secret)];
      if (d.previousSecret && d.previousSecretExpiresAt && Date.parse(d.previousSecretExpiresAt) > nowMs) secrets.push(this.#d.box.open(d.previousSecret));
    } catch {
      return Promise.resolve(fail('refused', 'the signing secret cannot be opened (was SECRET_KEY changed?)'));
    }
    const timestamp = Math.floor(nowMs / 1000);
    const body = Buffer.from(d.payload, 'utf8');
    const headers = {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': USER_AGENT,
      'webhook-id': d.eventId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signPayload(secrets, d.eventId, timestamp, d.payload),
      'webhook-attempt': String(d.attempt),
    };
    const timeoutMs = this.#d.config.webhookTimeoutMs;
    const client = check.url.protocol === 'https:' ? https : http;

    return new Promise<TryResult>((resolve) => {
      let settled = false;
      let timedOut = false;
      const finish = (r: TryResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const req = client.request(check.url, { method: 'POST', headers, agent: false, lookup: this.#lookup as never }, (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
          size += chunk.length;
        });
        res.on('error', () => undefined);
        res.on('end', () => {
          const responseBody = chunks.length ? Buffer.concat(chunks).toString('utf8') : null;
          const retryAfterSeconds = parseRetryAfter(res.headers['retry-after'] ?? null, this.#clock.now().getTime());
          const base = { statusCode: status, responseBody, retryAfterSeconds, aborted: false };
          if (status >= 200 && status < 300) finish({ ...base, outcome: 'success', error: null });
          else if (status >= 300 && status < 400) finish({ ...base, outcome: 'redirect', error: `redirects are not followed (HTTP ${status})` });
          else finish({ ...base, outcome: 'http_error', error: `HTTP ${status}` });
        });
      });
      const timer = setTimeout(() => { timedOut = true; req.destroy(new Error('timeout')); }, timeoutMs);
      const onAbort = () => req.destroy(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) return finish(fail('network_error', 'aborted by worker shutdown', { aborted: true }));
        if (timedOut) return finish(fail('timeout', `timed out after ${timeoutMs} ms`));
        if (err.code === ADDRESS_REFUSED_CODE) return finish(fail('refused', `refused: ${err.message}`));
        finish(fail('network_error', err.code ? `${err.code}: ${err.message}` : err.message));
      });
      // A response whose body stalls past the timeout also ends here.
      req.on('close', () => {
        if (!settled && signal.aborted) finish(fail('network_error', 'aborted by worker shutdown', { aborted: true }));
        if (!settled) finish(timedOut ? fail('timeout', `timed out after ${timeoutMs} ms`) : fail('network_error', 'connection closed before the response ended'));
      });
      req.end(body);
    });
  }
}

/**
 * The Db the call service writes through: after each committed transaction it calls `onCommit`
 * (the in-process worker's wake-up), so a new event is sent without waiting for the next poll.
 */
export function notifyingDb(db: Db, onCommit: () => void): Db {
  return {
    dialect: db.dialect,
    query: (sql, params) => db.query(sql, params),
    execute: (sql, params) => db.execute(sql, params),
    async transaction(fn) {
      const result = await db.transaction(fn);
      onCommit();
      return result;
    },
    close: () => db.close(),
  };
}
