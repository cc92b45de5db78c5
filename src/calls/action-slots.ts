// The per-call action slot: one business action at the provider at a time, however many requests or
// processes ask. Claimed with one atomic UPDATE, settled or released by its owner, and taken over after
// a lease when the owner died.
import type { Clock } from '../clock.ts';
import { ApiError, type ErrorCode } from '../errors.ts';
import { newActionId } from '../ids.ts';
import type { BusinessActionKind, Call, CallStatus } from '../model/call.ts';
import { isTerminal } from '../model/call.ts';
import { claimCallAction, findCallForNumber, readActionSlot, releaseCallAction } from '../store/calls.ts';
import { type Db, StoreUnavailableError } from '../store/db.ts';
import { appendTimeline, hasUncertainHangUpSince, type TimelineEntry } from '../store/timeline.ts';
import { isStoreUnavailable } from '../store/unavailable.ts';
import { ActionWaiters } from './action-waiters.ts';
import type { Transition } from './machine.ts';
import { persistTransition } from './outbox.ts';

const POLL_MS = 25;
/** A settle the store refused is tried again after this, doubling up to the cap, until it lands. */
const SETTLE_RETRY_FIRST_MS = 200;
const SETTLE_RETRY_MAX_MS = 2_000;

interface StoredError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  /** The action that failed; absent in errors stored before it was recorded. */
  action?: BusinessActionKind;
}

export type WaitOutcome =
  /** `endedUnder`: the kind of the last action seen holding the slot (null if none was seen), which ended it. */
  | { kind: 'ended'; call: Call; endedUnder: BusinessActionKind | null }
  /** `action`: the kind of the action that failed (null when not recorded); its error is for requests of that kind. */
  | { kind: 'failed'; error: ApiError; action: BusinessActionKind | null }
  | { kind: 'retry'; call: Call };

export type TimelineNote = Omit<TimelineEntry, 'sequence' | 'at'>;
/** A settle's note, or how to write it from the call as the settle finds it (what the action met may have changed). */
export type SettleNote = TimelineNote | ((current: Call) => TimelineNote);

/**
 * How long a claimed action is its owner's before another process may take it over. Long enough for the longest
 * action: an accept answered by the media engine (its SDP answer, ICE gathering up to 5 s) then sent as pre_accept
 * and accept, each up to the provider timeout; a terminate is one request and its one retry.
 */
export function actionLeaseMs(providerTimeoutMs: number): number {
  return providerTimeoutMs * 3 + 10_000;
}

/** The longest a request acting on a call may take: another action's whole lease waited out, then its own. */
export function longestActionRequestMs(providerTimeoutMs: number): number {
  return actionLeaseMs(providerTimeoutMs) + providerTimeoutMs;
}

export class ActionSlots {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #waiters = new ActionWaiters();
  /**
   * Actions the provider carried out whose outcome the store has not taken yet (disk full...), by call id. Retried
   * until it lands; meanwhile this process holds the slot past its lease, so nobody asks the provider again (it would
   * answer "already ended", crediting the PEER) and a provider end event is still ours.
   */
  readonly #unsettled = new Map<string, string>();
  /** Pending settle retries, cancelled by stop(): a closed store will never take them. */
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(db: Db, clock: Clock, providerTimeoutMs: number) {
    this.#db = db;
    this.#clock = clock;
    this.#leaseMs = actionLeaseMs(providerTimeoutMs);
  }

  /** Wakes this process's requests waiting on the call's slot: something about the call was just committed. */
  notify(callId: string): void {
    this.#waiters.signal(callId);
  }

  /** Whether a pending action recorded on the call is still owned (not past its lease). */
  isLive(call: Call): boolean {
    return (
      call.pendingAction !== null &&
      (Date.parse(call.pendingAction.startedAt) > this.#clock.now().getTime() - this.#leaseMs ||
        this.#unsettled.get(call.id) === call.pendingAction.id)
    );
  }

  /** Whether a recent hang-up of ours went unanswered by the provider, which may have carried it out (see timeline). */
  mayHaveEnded(call: Call, db: Db = this.#db): Promise<boolean> {
    const since = new Date(this.#clock.now().getTime() - this.#leaseMs).toISOString();
    return hasUncertainHangUpSince(db, call.id, since);
  }

  /**
   * Takes the call's slot for `kind`, only while the call is in one of `statuses` (by default any active one): an
   * action decided on the call as it was read must not act on a call another action has changed since (an accept
   * that connected a call a reject read ringing).
   */
  async claim(call: Call, kind: BusinessActionKind, statuses?: readonly CallStatus[]): Promise<string | null> {
    if (this.#unsettled.has(call.id)) {
      return null;
    }
    const now = this.#clock.now();
    const id = newActionId();
    const leaseExpiredBefore = new Date(now.getTime() - this.#leaseMs).toISOString();
    const action = { id, kind, startedAt: now.toISOString() };
    return (await claimCallAction(this.#db, call.id, action, leaseExpiredBefore, statuses)) ? id : null;
  }

  /**
   * Runs what a claimant reads between its claim and its provider request (the call again, its number). Nothing was
   * asked of the provider yet: when that read fails (the store refused it) the slot is given back at once rather
   * than held for its whole lease, which every other action on the call (the sweeper's too) would wait out. The
   * read's error is thrown on.
   */
  async beforeProvider<T>(call: Call, actionId: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      // A store that refuses this write too leaves the slot to its lease, as a crash would.
      await this.giveBack(call, actionId).catch(() => undefined);
      throw error;
    }
  }

  /** Frees the slot with no outcome: nothing was asked of the provider, so whoever waited decides again. */
  async giveBack(call: Call, actionId: string): Promise<void> {
    try {
      await releaseCallAction(this.#db, call.id, actionId, null);
    } finally {
      this.#waiters.signal(call.id);
    }
  }

  /** Frees the slot after a failed action; requests of the same kind that waited on it answer with its error. */
  async release(call: Call, actionId: string, error: ApiError, note?: TimelineNote): Promise<ApiError> {
    await this.#db.transaction(async (tx) => {
      const current = await findCallForNumber(tx, call.numberId, call.id, { lock: true });
      const action = current?.pendingAction?.id === actionId ? current.pendingAction.kind : undefined;
      const stored: StoredError = {
        code: error.code,
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
        ...(action ? { action } : {}),
      };
      await releaseCallAction(tx, call.id, actionId, JSON.stringify(stored));
      if (note) {
        await appendTimeline(tx, call.id, { ...note, at: this.#clock.now().toISOString() });
      }
    });
    this.#waiters.signal(call.id);
    return error;
  }

  /**
   * Applies the action's outcome in one transaction, unless a provider end event settled the call first. The provider
   * has acted: when the store cannot take the outcome now, it is retried in the background until it lands, and this
   * throws the store's error (the request answers 503; its retry finds the call settled).
   */
  async settle(
    call: Call,
    actionId: string,
    decide: (c: Call, now: string) => Transition,
    note?: SettleNote,
  ): Promise<Call> {
    try {
      return await this.#settleOnce(call, actionId, decide, note);
    } catch (error) {
      if (isStoreUnavailable(error)) {
        this.#retrySettle(call, actionId, decide, note);
      }
      throw error;
    } finally {
      this.#waiters.signal(call.id);
    }
  }

  #retrySettle(call: Call, actionId: string, decide: (c: Call, now: string) => Transition, note?: SettleNote) {
    this.#unsettled.set(call.id, actionId);
    // The outcome happened now: a call that ends once the disk has room again still ended at this time.
    const at = this.#clock.now().toISOString();
    let delay = SETTLE_RETRY_FIRST_MS;
    const schedule = (ms: number) => {
      const timer = setTimeout(() => {
        this.#retryTimers.delete(timer);
        attempt();
      }, ms);
      timer.unref();
      this.#retryTimers.add(timer);
    };
    const attempt = () => {
      this.#settleOnce(call, actionId, decide, note, at).then(
        () => {
          this.#unsettled.delete(call.id);
          this.#waiters.signal(call.id);
        },
        (error) => {
          // A closed store (pool ended, database closed) reads as "unavailable" too, but will never come back.
          if (this.#stopped || !isStoreUnavailable(error)) {
            // The call is gone, or the store closed: nothing left to record here.
            this.#unsettled.delete(call.id);
            this.#waiters.signal(call.id);
            return;
          }
          delay = Math.min(delay * 2, SETTLE_RETRY_MAX_MS);
          schedule(delay);
        },
      );
    };
    schedule(delay);
  }

  /** Stops retrying settles: called when the app closes, before its store does. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#retryTimers) {
      clearTimeout(timer);
    }
    this.#retryTimers.clear();
    this.#unsettled.clear();
  }

  async #settleOnce(
    call: Call,
    actionId: string,
    decide: (c: Call, now: string) => Transition,
    note?: SettleNote,
    at?: string,
  ): Promise<Call> {
    return this.#db.transaction(async (tx) => {
      const current = await findCallForNumber(tx, call.numberId, call.id, { lock: true });
      if (!current) {
        throw new ApiError('CALL_NOT_FOUND');
      }
      const now = at ?? this.#clock.now().toISOString();
      if (note) {
        await appendTimeline(tx, call.id, { ...(typeof note === 'function' ? note(current) : note), at: now });
      }
      const t = decide(current, now);
      if (t.call !== current) {
        return persistTransition(tx, t, { isNew: false }, now);
      }
      // Already settled by a provider event: free the slot if it is still ours.
      if (current.pendingAction?.id !== actionId) {
        return current;
      }
      return persistTransition(tx, { call: { ...current, pendingAction: null }, events: [] }, { isNew: false }, now);
    });
  }

  /** Waits for whoever holds the slot: the call ended, the action failed, or the slot is free to try again. */
  async waitForOwner(call: Call): Promise<WaitOutcome> {
    const deadline = Date.now() + this.#leaseMs;
    let heldBy: BusinessActionKind | null = null;
    for (;;) {
      if (this.#unsettled.has(call.id)) {
        // The provider acted; its outcome waits for the store, which may take long. Waiting the lease would only
        // delay the same answer: the client retries later and finds it recorded.
        throw new StoreUnavailableError('the outcome of the last action on this call is not recorded yet');
      }
      await this.#waiters.wait(call.id, POLL_MS);
      const slot = await readActionSlot(this.#db, call.id);
      if (!slot) {
        throw new ApiError('CALL_NOT_FOUND');
      }
      if (isTerminal(slot.status)) {
        return { kind: 'ended', call: { ...call, status: slot.status, endedBy: slot.endedBy }, endedUnder: heldBy };
      }
      heldBy = slot.actionKind ?? heldBy;
      if (slot.actionId === null || Date.now() > deadline) {
        if (slot.actionId === null && slot.actionError) {
          const stored = JSON.parse(slot.actionError) as StoredError;
          return {
            kind: 'failed',
            error: new ApiError(stored.code, {
              message: stored.message,
              ...(stored.details ? { details: stored.details } : {}),
            }),
            action: stored.action ?? null,
          };
        }
        const fresh = await findCallForNumber(this.#db, call.numberId, call.id);
        if (!fresh) {
          throw new ApiError('CALL_NOT_FOUND');
        }
        return { kind: 'retry', call: fresh };
      }
    }
  }
}
