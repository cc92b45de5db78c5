// No call stays active forever: calls ringing past the ring timeout end MISSED/FAILED, answered calls past their
// maximum duration are terminated through the provider, and so are provider calls no POST /v1/calls stored. Safe
// with many processes: every change re-checks the call under its row lock, and provider actions go through the
// call's action slot.
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { FailureLog } from '../failure-log.ts';
import type { CallId, NumberId } from '../ids.ts';
import type { Call, CallStatus } from '../model/call.ts';
import { ringStartMs } from '../model/provider-event.ts';
import { evolutionConfigOf } from '../providers/evolution/client.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import {
  findCallForNumber,
  listAnsweredWithMaxDuration,
  listRingingStartedBefore,
  listWebCallsAnsweredBefore,
} from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { failDeliveriesOfGoneWebhooks, reconcileHeldDeliveries } from '../store/deliveries.ts';
import { pruneDeliveryLog } from '../store/delivery-retention.ts';
import { deleteExpiredIdempotencyKeys } from '../store/idempotency.ts';
import { getNumberById } from '../store/numbers.ts';
import { deleteOldOutboundAttempts } from '../store/outbound-attempts.ts';
import { deleteExpiredParkedEvents } from '../store/parked-events.ts';
import { appendTimeline, hasUncertainAccept } from '../store/timeline.ts';
import { deleteExpiredTombstones } from '../store/tombstones.ts';
import { isStoreUnavailable } from '../store/unavailable.ts';
import { holdSpanMs } from '../webhooks/retry-schedule.ts';
import type { ActionSlots } from './action-slots.ts';
import { endCall, ringTimedOut } from './machine.ts';
import { placingForMs } from './outbound.ts';
import { persistTransition } from './outbox.ts';
import { attemptsKeptMs, endUnclaimedOutboundCalls } from './unclaimed-outbound.ts';

export interface SweeperDeps {
  db: Db;
  slots: ActionSlots;
  providers: ProviderRegistry;
  clock: Clock;
  config: Pick<
    Config,
    | 'ringTimeoutSeconds'
    | 'sweepIntervalMs'
    | 'webhookLogRetentionDays'
    | 'webhookRetryScheduleMs'
    | 'providerTimeoutMs'
    | 'evolutionDialTimeoutMs'
  >;
  logger: Logger;
}

const BATCH = 200;
/** The states a ring timeout is for. */
const RINGING: readonly CallStatus[] = ['INITIATED', 'RINGING'];
/** The webhook log is pruned at most this often, in batches of PRUNE_BATCH, at most PRUNE_BATCHES per run. */
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_BATCH = 1000;
const PRUNE_BATCHES = 20;
const DAY_MS = 86_400_000;
/**
 * An answered web call with no news this long, on a number that cannot hang calls up, has lost its end event
 * (docs/spec/providers-evolution-go.md §4, the stale guard): it is ended COMPLETED by SYSTEM, `no_end_event`.
 */
const STALE_ANSWERED_MS = 4 * 3_600_000;
/** Answered calls with a maximum duration are read this many at a time, up to MAX_DURATION_PAGES pages per sweep. */
const MAX_DURATION_PAGE = 1000;
const MAX_DURATION_PAGES = 100;
/** Pages of BATCH candidates the stale guard reads per sweep at most. */
const STALE_PAGES = 20;

export class Sweeper {
  readonly #d: SweeperDeps;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  /** When the webhook log was last pruned (ms), or null: not yet in this process. */
  #prunedAt: number | null = null;
  readonly #failures: FailureLog;

  constructor(deps: SweeperDeps) {
    this.#d = deps;
    this.#failures = new FailureLog(deps.logger, { failed: 'sweep failed', recovered: 'sweep works again' }, () =>
      deps.clock.now().getTime(),
    );
  }

  start(): void {
    if (this.#timer) {
      return;
    }
    const tick = () => {
      this.#running = this.sweepOnce()
        .then(
          () => this.#failures.ok(),
          // A store that is down is said by /readyz and every request too: a warning; anything else is a bug.
          (err) => this.#failures.failed(err, isStoreUnavailable(err) ? 'warn' : 'error'),
        )
        .finally(() => {
          this.#running = null;
          if (this.#timer) {
            this.#timer = setTimeout(tick, this.#d.config.sweepIntervalMs);
          }
        });
    };
    this.#timer = setTimeout(tick, this.#d.config.sweepIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
    }
    this.#timer = null;
    await this.#running;
  }

  async sweepOnce(): Promise<{ ringTimeouts: number; maxDurations: number }> {
    const now = this.#d.clock.now();
    const ringCutoff = new Date(now.getTime() - this.#d.config.ringTimeoutSeconds * 1000).toISOString();
    let ringTimeouts = 0;
    for (const row of await listRingingStartedBefore(this.#d.db, ringCutoff, BATCH)) {
      if (await this.#endRinging(row.numberId, row.id, ringCutoff)) {
        ringTimeouts++;
        this.#d.logger.info(
          { callId: row.id, numberId: row.numberId, ringTimeoutSeconds: this.#d.config.ringTimeoutSeconds },
          'sweeper ended a call that rang too long',
        );
      }
    }
    const maxDurations = await this.#endOverlongCalls(now.getTime());
    await this.#endStaleAnswered(new Date(now.getTime() - STALE_ANSWERED_MS).toISOString());
    const nowIso = now.toISOString();
    const { db, providers, logger } = this.#d;
    await endUnclaimedOutboundCalls(
      { db, providers, logger, providerTimeoutMs: this.#d.config.providerTimeoutMs },
      now,
    );
    await deleteExpiredTombstones(this.#d.db, nowIso);
    await deleteExpiredParkedEvents(this.#d.db, nowIso);
    // Not before its request can be over: an open attempt is also a call being placed, which holds its number
    // against a delete (store/numbers.ts), and a web number's dial may wait longer than the sweep keeps attempts.
    const attemptsKept = Math.max(attemptsKeptMs(this.#d.config.providerTimeoutMs), placingForMs(this.#d.config));
    await deleteOldOutboundAttempts(this.#d.db, new Date(now.getTime() - attemptsKept).toISOString());
    await deleteExpiredIdempotencyKeys(this.#d.db, nowIso);
    await this.#pruneDeliveryLog(now.getTime());
    return { ringTimeouts, maxDurations };
  }

  /**
   * Past WEBHOOK_LOG_RETENTION_DAYS, attempts and finished deliveries go (docs/webhooks.md "Retention"); a paused
   * webhook's held deliveries older than the retry schedule's span fail first, and so does what still waits for a
   * webhook a 410 disabled.
   */
  async #pruneDeliveryLog(nowMs: number): Promise<void> {
    if (this.#prunedAt !== null && nowMs - this.#prunedAt < PRUNE_INTERVAL_MS) {
      return;
    }
    this.#prunedAt = nowMs;
    const held = await reconcileHeldDeliveries(
      this.#d.db,
      new Date(nowMs - holdSpanMs(this.#d.config.webhookRetryScheduleMs)).toISOString(),
      new Date(nowMs).toISOString(),
    );
    if (held.expired + held.released + held.held > 0) {
      this.#d.logger.info(held, 'held webhook deliveries of paused webhooks reconciled');
    }
    const gone = await failDeliveriesOfGoneWebhooks(this.#d.db, new Date(nowMs).toISOString());
    if (gone > 0) {
      this.#d.logger.info({ failed: gone }, 'deliveries left waiting for webhooks disabled by a 410 failed');
    }
    const days = this.#d.config.webhookLogRetentionDays;
    if (days === 0) {
      return;
    }
    const before = new Date(nowMs - days * DAY_MS).toISOString();
    let attempts = 0;
    let deliveries = 0;
    for (let batch = 0; batch < PRUNE_BATCHES; batch++) {
      const pruned = await pruneDeliveryLog(this.#d.db, before, PRUNE_BATCH);
      attempts += pruned.attempts;
      deliveries += pruned.deliveries;
      if (pruned.attempts < PRUNE_BATCH && pruned.deliveries < PRUNE_BATCH) {
        break;
      }
    }
    if (attempts + deliveries > 0) {
      this.#d.logger.info({ attempts, deliveries, before }, 'webhook log pruned past its retention');
    }
  }

  async #endRinging(numberId: NumberId, callId: CallId, cutoff: string): Promise<boolean> {
    // Judged as the offer was when it came in (provider-events.ts): an inbound call stored ringing is not missed by
    // the very next sweep for its stamp's rounding.
    const rangLongEnough = (c: Call) => ringStartMs(c.startedAt, c.direction) < Date.parse(cutoff);
    const call = await findCallForNumber(this.#d.db, numberId, callId);
    if (
      !call ||
      (call.status !== 'INITIATED' && call.status !== 'RINGING') ||
      !rangLongEnough(call) ||
      this.#d.slots.isLive(call)
    ) {
      return false;
    }
    // An outbound call: stop the phone ringing too; the call is over for us whatever the provider says. An inbound
    // one after an accept the provider did not answer: it may have connected the call there, where the user would
    // stay on a call nobody holds (the provider ends its own ringing calls, not answered ones).
    if (call.direction === 'OUTBOUND' || (await hasUncertainAccept(this.#d.db, call.id))) {
      const ended = await this.#endThroughProvider(call, (c, now) => ringTimedOut(c, now), 'ring-timeout', RINGING);
      if (ended !== null) {
        return ended;
      }
    }
    return this.#d.db.transaction(async (tx) => {
      const current = await findCallForNumber(tx, numberId, callId, { lock: true });
      if (
        !current ||
        (current.status !== 'INITIATED' && current.status !== 'RINGING') ||
        !rangLongEnough(current) ||
        this.#d.slots.isLive(current)
      ) {
        return false;
      }
      const now = this.#d.clock.now().toISOString();
      await persistTransition(tx, ringTimedOut(current, now), { isNew: false }, now);
      await appendTimeline(tx, callId, { source: 'system', type: 'ring-timeout', detail: {}, at: now });
      return true;
    });
  }

  /**
   * The stale guard over every candidate, page by page: calls that can be hung up stay ACCEPTED (their end event,
   * the business or their maximum duration ends them) and must not hide the ones behind them.
   */
  async #endStaleAnswered(cutoff: string): Promise<void> {
    const able = new Map<NumberId, boolean>();
    let after: { connectedAt: string; id: CallId } | undefined;
    for (let page = 0; page < STALE_PAGES; page++) {
      const rows = await listWebCallsAnsweredBefore(this.#d.db, cutoff, BATCH, after);
      for (const row of rows) {
        if (!able.has(row.numberId)) {
          const number = await getNumberById(this.#d.db, row.numberId);
          able.set(row.numberId, !number || canHangUp(number));
        }
        if (!able.get(row.numberId) && (await this.#endStale(row.numberId, row.id, cutoff))) {
          this.#d.logger.warn(
            { callId: row.id, numberId: row.numberId },
            'sweeper ended an answered call that had no end event for 4 h and cannot be hung up',
          );
        }
      }
      const last = rows.at(-1);
      if (rows.length < BATCH || !last) {
        return;
      }
      after = { connectedAt: last.connectedAt, id: last.id };
    }
  }

  async #endStale(numberId: NumberId, callId: CallId, cutoff: string): Promise<boolean> {
    return this.#d.db.transaction(async (tx) => {
      const current = await findCallForNumber(tx, numberId, callId, { lock: true });
      if (current?.status !== 'ACCEPTED' || current.updatedAt >= cutoff || this.#d.slots.isLive(current)) {
        return false;
      }
      const now = this.#d.clock.now().toISOString();
      const ended = endCall(current, now, 'SYSTEM');
      await persistTransition(
        tx,
        { ...ended, call: { ...ended.call, endReason: 'no_end_event' } },
        { isNew: false },
        now,
      );
      await appendTimeline(tx, callId, { source: 'system', type: 'no-end-event', detail: {}, at: now });
      return true;
    });
  }

  /**
   * Every answered call with a maximum duration is read, a page at a time: the longest connected are not always the
   * first due (a short maxDurationSeconds may be behind thousands of long ones).
   */
  async #endOverlongCalls(nowMs: number): Promise<number> {
    let ended = 0;
    let after: { connectedAt: string; id: CallId } | undefined;
    for (let page = 0; page < MAX_DURATION_PAGES; page++) {
      const rows = await listAnsweredWithMaxDuration(this.#d.db, MAX_DURATION_PAGE, after);
      for (const row of rows) {
        if (Date.parse(row.connectedAt) + row.maxDurationSeconds * 1000 > nowMs) {
          continue;
        }
        if (await this.#endOverlong(row.numberId, row.id)) {
          ended++;
          this.#d.logger.info(
            { callId: row.id, numberId: row.numberId, maxDurationSeconds: row.maxDurationSeconds },
            'sweeper ended a call at its maximum duration',
          );
        }
      }
      const last = rows.at(-1);
      if (rows.length < MAX_DURATION_PAGE || !last) {
        break;
      }
      after = { connectedAt: last.connectedAt, id: last.id };
    }
    return ended;
  }

  #endOverlong(numberId: NumberId, callId: CallId): Promise<boolean | null> {
    return findCallForNumber(this.#d.db, numberId, callId).then((call) =>
      call && call.status === 'ACCEPTED'
        ? this.#endThroughProvider(call, (c, now) => endCall(c, now, 'SYSTEM'), 'max-duration', ['ACCEPTED'])
        : false,
    );
  }

  /**
   * Ends a call through the provider via the action slot, while it is still in one of `statuses` (as read: a call
   * answered since it was read ringing is no ring timeout); null when the provider could not be told.
   */
  async #endThroughProvider(
    call: Call,
    decide: Parameters<ActionSlots['settle']>[2],
    reason: string,
    statuses: readonly CallStatus[],
  ): Promise<boolean | null> {
    const actionId = await this.#d.slots.claim(call, 'system-end', statuses);
    if (!actionId) {
      return false; // someone else is acting on this call right now
    }
    const number = await this.#d.slots.beforeProvider(call, actionId, () => getNumberById(this.#d.db, call.numberId));
    if (!number) {
      // Deleted since: its calls went with it in the same commit, but a slot of ours is never left to its lease.
      await this.#d.slots.giveBack(call, actionId);
      return false;
    }
    const result = await this.#d.providers(number).endCall(number, call, 'terminate');
    if (!result.ok && result.category !== 'ALREADY_ENDED') {
      this.#d.logger.warn(
        { callId: call.id, reason, category: result.category },
        'system could not end the call at the provider',
      );
      await this.#d.slots.release(call, actionId, new ApiError('PROVIDER_UNAVAILABLE'), {
        source: 'system',
        type: reason,
        detail: { error: result.category },
      });
      return reason === 'ring-timeout' ? null : false;
    }
    await this.#d.slots.settle(call, actionId, decide, {
      source: 'system',
      type: reason,
      detail: { providerAction: 'terminate' },
    });
    return true;
  }
}

/**
 * Whether the web number's server was last seen able to hang calls up: not when its calls add-on is absent or off,
 * nor when its /call/hangup route answered gin's 404 (whenever that was: the verdicts are kept, if not trusted for
 * requests past their TTL). Other numbers always can.
 */
function canHangUp(number: Parameters<typeof evolutionConfigOf>[0]): boolean {
  const config = evolutionConfigOf(number);
  if (!config) {
    return true;
  }
  const extension = config.capabilities?.callsExtension;
  if (extension === 'absent' || extension === 'disabled' || config.missingRoutes?.['/call/hangup']) {
    return false;
  }
  // Never seen working and its probe route missing: a stock server, which has no hang-up at all.
  return extension === 'present' || !config.missingRoutes?.['/call/active'];
}
