// The per-call action slot: one business action at the provider at a time, however many requests or
// processes ask. Claimed with one atomic UPDATE, settled or released by its owner, and taken over after
// a lease when the owner died.
import type { Clock } from '../clock.ts';
import { ApiError, type ErrorCode } from '../errors.ts';
import { newActionId } from '../ids.ts';
import { claimCallAction, findCallForNumber, readActionSlot, releaseCallAction } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { appendTimeline, type TimelineEntry } from '../store/timeline.ts';
import { ActionWaiters } from './action-waiters.ts';
import { persistTransition } from './events.ts';
import type { Transition } from './machine.ts';
import type { BusinessActionKind, Call } from './types.ts';
import { isTerminal } from './types.ts';

const POLL_MS = 25;

interface StoredError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type WaitOutcome =
  | { kind: 'ended'; call: Call }
  | { kind: 'failed'; error: ApiError }
  | { kind: 'retry'; call: Call };

export type TimelineNote = Omit<TimelineEntry, 'sequence' | 'at'>;

export class ActionSlots {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly waiters = new ActionWaiters();

  constructor(db: Db, clock: Clock, providerTimeoutMs: number) {
    this.#db = db;
    this.#clock = clock;
    // Long enough for the adapter's request and its one retry.
    this.#leaseMs = providerTimeoutMs * 2 + 5_000;
  }

  /** Whether a pending action recorded on the call is still owned (not past its lease). */
  isLive(call: Call): boolean {
    return (
      call.pendingAction !== null &&
      Date.parse(call.pendingAction.startedAt) > this.#clock.now().getTime() - this.#leaseMs
    );
  }

  async claim(call: Call, kind: BusinessActionKind): Promise<string | null> {
    const now = this.#clock.now();
    const id = newActionId();
    const leaseExpiredBefore = new Date(now.getTime() - this.#leaseMs).toISOString();
    return (await claimCallAction(this.#db, call.id, { id, kind, startedAt: now.toISOString() }, leaseExpiredBefore))
      ? id
      : null;
  }

  /** Frees the slot after a failed action; requests that waited on it answer with the same error. */
  async release(call: Call, actionId: string, error: ApiError, note?: TimelineNote): Promise<ApiError> {
    const stored: StoredError = {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
    };
    await this.#db.transaction(async (tx) => {
      await findCallForNumber(tx, call.numberId, call.id, true);
      await releaseCallAction(tx, call.id, actionId, JSON.stringify(stored));
      if (note) {
        await appendTimeline(tx, call.id, { ...note, at: this.#clock.now().toISOString() });
      }
    });
    this.waiters.signal(call.id);
    return error;
  }

  /** Applies the action's outcome in one transaction, unless a provider end event settled the call first. */
  async settle(
    call: Call,
    actionId: string,
    decide: (c: Call, now: string) => Transition,
    note?: TimelineNote,
  ): Promise<Call> {
    try {
      return await this.#db.transaction(async (tx) => {
        const current = await findCallForNumber(tx, call.numberId, call.id, true);
        if (!current) {
          throw new ApiError('CALL_NOT_FOUND');
        }
        const now = this.#clock.now().toISOString();
        if (note) {
          await appendTimeline(tx, call.id, { ...note, at: now });
        }
        const t = decide(current, now);
        if (t.call !== current) {
          return persistTransition(tx, t, false, now);
        }
        // Already settled by a provider event: free the slot if it is still ours.
        if (current.pendingAction?.id !== actionId) {
          return current;
        }
        return persistTransition(tx, { call: { ...current, pendingAction: null }, events: [] }, false, now);
      });
    } finally {
      this.waiters.signal(call.id);
    }
  }

  /** Waits for whoever holds the slot: the call ended, the action failed, or the slot is free to try again. */
  async waitForOwner(call: Call): Promise<WaitOutcome> {
    const deadline = Date.now() + this.#leaseMs;
    for (;;) {
      await this.waiters.wait(call.id, POLL_MS);
      const slot = await readActionSlot(this.#db, call.id);
      if (!slot) {
        throw new ApiError('CALL_NOT_FOUND');
      }
      if (isTerminal(slot.status)) {
        return { kind: 'ended', call: { ...call, status: slot.status } };
      }
      if (slot.actionId === null || Date.now() > deadline) {
        if (slot.actionId === null && slot.actionError) {
          const stored = JSON.parse(slot.actionError) as StoredError;
          return {
            kind: 'failed',
            error: new ApiError(stored.code, {
              message: stored.message,
              ...(stored.details ? { details: stored.details } : {}),
            }),
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
