// The call service: load → decide (machine) → provider → persist with outbox, for one call at a time.
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ApiError, type ErrorCode } from '../errors.ts';
import { newActionId, newCallId, type NumberId } from '../ids.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ProviderFailure } from '../providers/types.ts';
import type { Db } from '../store/db.ts';
import {
  claimCallAction, findCallByExternalIdForNumber, findCallForNumber, listCallsForNumber, readActionSlot, releaseCallAction,
} from '../store/calls.ts';
import { getNumberById, type NumberRecord } from '../store/numbers.ts';
import { putTombstone, takeTombstone } from '../store/tombstones.ts';
import { ActionWaiters } from './action-waiters.ts';
import { persistTransition } from './events.ts';
import {
  acceptByBusiness, applyProviderEvent, canAnswerOrReject, createInboundCall, decideTerminate, endByBusiness,
  missedAfterPeerEnd, rejectByBusiness, type ProviderCallEvent, type Transition,
} from './machine.ts';
import type { BusinessActionKind, Call } from './types.ts';
import { isTerminal } from './types.ts';

export interface CallServiceDeps {
  db: Db;
  providers: ProviderRegistry;
  clock: Clock;
  config: Pick<Config, 'providerTimeoutMs' | 'ringTimeoutSeconds' | 'tombstoneTtlSeconds'>;
  logger: Logger;
}

export interface ActionResult { id: string; status: Call['status']; alreadyEnded?: true }

const POLL_MS = 25;

/** What a failed provider action means for our API. Terminate knows only the two 502s (calls-api.md §4.8). */
function providerError(f: ProviderFailure, action: BusinessActionKind): ApiError {
  const details = { providerCode: f.providerCode, providerMessage: f.providerMessage };
  if (f.category === 'PROVIDER_DOWN') return new ApiError('PROVIDER_UNAVAILABLE', { details });
  if (f.category === 'NOT_SUPPORTED') return new ApiError('FEATURE_NOT_SUPPORTED');
  if (action !== 'terminate') {
    const retry = f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : undefined;
    const byCategory: Partial<Record<ProviderFailure['category'], ErrorCode>> = {
      PERMISSION_REQUIRED: 'META_CALL_PERMISSION_REQUIRED', RATE_LIMITED: 'RATE_LIMITED',
      PERMISSION_REQUEST_LIMIT: 'META_CALL_PERMISSION_REQUEST_LIMIT', NOT_CONNECTED: 'WHATSAPP_INSTANCE_NOT_CONNECTED',
      STATE_CONFLICT: 'CALL_STATE_CONFLICT',
    };
    const code = byCategory[f.category];
    if (code) {
      return new ApiError(code, {
        details: { providerCode: f.providerCode, ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}) },
        ...(retry ? { headers: retry } : {}),
      });
    }
  }
  return new ApiError('PROVIDER_ERROR', { details });
}

interface StoredError { code: ErrorCode; message: string; details?: Record<string, unknown> }

export class CallService {
  readonly #d: CallServiceDeps;
  readonly #waiters = new ActionWaiters();
  constructor(deps: CallServiceDeps) { this.#d = deps; }

  #now(): string { return this.#d.clock.now().toISOString(); }

  /** How long a claimed action may stay unsettled before another request may take over (owner crashed). */
  get #leaseMs(): number { return this.#d.config.providerTimeoutMs * 2 + 5_000; }

  async getCall(numberId: NumberId, idOrExternal: string): Promise<Call> {
    const call = await findCallForNumber(this.#d.db, numberId, idOrExternal);
    if (!call) throw new ApiError('CALL_NOT_FOUND');
    return call;
  }

  listCalls(numberId: NumberId, opts: { limit: number; before: string | null }): Promise<Call[]> {
    return listCallsForNumber(this.#d.db, numberId, opts);
  }

  /** calls-api.md §4: exactly one provider action and one call.ended, however many concurrent requests. */
  async terminate(numberId: NumberId, idOrExternal: string): Promise<ActionResult> {
    let call = await this.getCall(numberId, idOrExternal);
    for (;;) {
      const decision = decideTerminate(call);
      if (decision.kind === 'already-ended') return { id: call.id, status: call.status, alreadyEnded: true };
      const claim = await this.#claim(call, 'terminate');
      if (claim) return this.#runTerminate(call, decision.action, claim);
      const outcome = await this.#waitForOwner(call);
      if (outcome.kind === 'ended') return { id: call.id, status: outcome.call.status };
      if (outcome.kind === 'failed') throw outcome.error;
      call = outcome.call;
    }
  }

  async #runTerminate(call: Call, action: 'reject' | 'terminate', actionId: string): Promise<ActionResult> {
    const number = await this.#number(call.numberId);
    const result = await this.#d.providers(number).endCall(number, call, action);
    if (!result.ok && result.category !== 'ALREADY_ENDED') {
      throw await this.#release(call, actionId, providerError(result, 'terminate'));
    }
    const endedBy = result.ok ? 'BUSINESS' : 'PEER';
    const final = await this.#settle(call, actionId, (c, now) => endByBusiness(c, now, endedBy));
    return { id: call.id, status: final.status };
  }

  async accept(numberId: NumberId, idOrExternal: string, sdpAnswer: string | null): Promise<ActionResult> {
    const call = await this.#ringingInbound(numberId, idOrExternal);
    const number = await this.#number(call.numberId);
    if (number.provider === 'META' && !sdpAnswer) {
      throw new ApiError('VALIDATION_ERROR', { details: { reason: 'sdp (the SDP answer) is required on META numbers' } });
    }
    const actionId = await this.#claimOrConflict(call, 'accept');
    const result = await this.#d.providers(number).accept(number, call, sdpAnswer);
    if (!result.ok) {
      const current = await findCallForNumber(this.#d.db, call.numberId, call.id);
      const error = current && isTerminal(current.status) ? conflict(current) : providerError(result, 'accept');
      throw await this.#release(call, actionId, error);
    }
    const final = await this.#settle(call, actionId, (c, now) => acceptByBusiness(c, now, sdpAnswer));
    if (final.status !== 'ACCEPTED') throw conflict(final);
    return { id: call.id, status: final.status };
  }

  async reject(numberId: NumberId, idOrExternal: string): Promise<ActionResult> {
    const call = await this.#ringingInbound(numberId, idOrExternal);
    const actionId = await this.#claimOrConflict(call, 'reject');
    const number = await this.#number(call.numberId);
    const result = await this.#d.providers(number).reject(number, call);
    if (!result.ok && result.category === 'ALREADY_ENDED') {
      // Meta no longer has the call: the peer gave up first. Record it, and say the reject came too late.
      const final = await this.#settle(call, actionId, (c, now) => missedAfterPeerEnd(c, now));
      throw conflict(final);
    }
    if (!result.ok) throw await this.#release(call, actionId, providerError(result, 'reject'));
    const final = await this.#settle(call, actionId, (c, now) => rejectByBusiness(c, now));
    return { id: call.id, status: final.status };
  }

  async #ringingInbound(numberId: NumberId, idOrExternal: string): Promise<Call> {
    const call = await this.getCall(numberId, idOrExternal);
    if (!canAnswerOrReject(call)) throw conflict(call);
    return call;
  }

  async #claimOrConflict(call: Call, kind: BusinessActionKind): Promise<string> {
    const actionId = await this.#claim(call, kind);
    if (!actionId) throw conflict(call, 'Another action on this call is in progress');
    return actionId;
  }

  async #claim(call: Call, kind: BusinessActionKind): Promise<string | null> {
    const now = this.#d.clock.now();
    const id = newActionId();
    const leaseExpiredBefore = new Date(now.getTime() - this.#leaseMs).toISOString();
    const claimed = await claimCallAction(this.#d.db, call.id, { id, kind, startedAt: now.toISOString() }, leaseExpiredBefore);
    return claimed ? id : null;
  }

  async #release(call: Call, actionId: string, error: ApiError): Promise<ApiError> {
    const stored: StoredError = { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
    await releaseCallAction(this.#d.db, call.id, actionId, JSON.stringify(stored));
    this.#waiters.signal(call.id);
    return error;
  }

  /** Applies the business outcome in one transaction, unless a provider end event settled the call first. */
  async #settle(call: Call, actionId: string, decide: (c: Call, now: string) => Transition): Promise<Call> {
    try {
      return await this.#d.db.transaction(async (tx) => {
        const current = await findCallForNumber(tx, call.numberId, call.id, true);
        if (!current) throw new ApiError('CALL_NOT_FOUND');
        const now = this.#now();
        const t = decide(current, now);
        if (t.events.length === 0 && t.call === current) {
          // Already terminal: free the slot if it is still ours.
          if (current.pendingAction?.id === actionId) return persistTransition(tx, { call: { ...current, pendingAction: null }, events: [] }, false, now);
          return current;
        }
        return persistTransition(tx, t, false, now);
      });
    } finally {
      this.#waiters.signal(call.id);
    }
  }

  async #waitForOwner(call: Call): Promise<
    { kind: 'ended'; call: Call } | { kind: 'failed'; error: ApiError } | { kind: 'retry'; call: Call }
  > {
    const deadline = Date.now() + this.#leaseMs;
    for (;;) {
      await this.#waiters.wait(call.id, POLL_MS);
      const slot = await readActionSlot(this.#d.db, call.id);
      if (!slot) throw new ApiError('CALL_NOT_FOUND');
      if (isTerminal(slot.status)) return { kind: 'ended', call: { ...call, status: slot.status } };
      if (slot.actionId === null) {
        if (slot.actionError) {
          const stored = JSON.parse(slot.actionError) as StoredError;
          return { kind: 'failed', error: new ApiError(stored.code, { message: stored.message, ...(stored.details ? { details: stored.details } : {}) }) };
        }
        return { kind: 'retry', call: await this.getCall(call.numberId, call.id) };
      }
      if (Date.now() > deadline) return { kind: 'retry', call: await this.getCall(call.numberId, call.id) };
    }
  }

  async #number(id: NumberId): Promise<NumberRecord> {
    const number = await getNumberById(this.#d.db, id);
    if (!number) throw new ApiError('CALL_NOT_FOUND');
    return number;
  }

  /**
   * Applies one provider event in its own transaction. Duplicates, reordering, late retries and
   * end-before-offer all resolve here through the machine and the tombstones.
   */
  async applyProviderEvent(number: NumberRecord, event: ProviderCallEvent, direction: 'INBOUND' | 'OUTBOUND' | null): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#d.db.transaction((tx) => this.#applyInTx(tx, number, event, direction));
        if (event.type === 'end') this.#waiters.signal(event.externalCallId);
        return;
      } catch (error) {
        // Two processes inserting the same new call: the loser retries and sees it as a duplicate.
        if (attempt === 0 && isUniqueViolation(error)) continue;
        throw error;
      }
    }
  }

  async #applyInTx(tx: Db, number: NumberRecord, event: ProviderCallEvent, direction: 'INBOUND' | 'OUTBOUND' | null): Promise<void> {
    const now = this.#d.clock.now();
    const nowIso = now.toISOString();
    const call = await findCallByExternalIdForNumber(tx, number.id, event.externalCallId, true);
    if (call) {
      const inFlight = call.pendingAction && Date.parse(call.pendingAction.startedAt) > now.getTime() - this.#leaseMs
        ? call.pendingAction.kind : null;
      const t = applyProviderEvent(call, event, nowIso, inFlight);
      if (t.call !== call) {
        await persistTransition(tx, t, false, nowIso);
        this.#waiters.signal(call.id);
      }
      return;
    }
    if (event.type === 'offer') {
      const tombstone = await takeTombstone(tx, number.id, event.externalCallId, nowIso);
      const stale = now.getTime() - Date.parse(event.at) > this.#d.config.ringTimeoutSeconds * 1000;
      const t = createInboundCall({
        id: newCallId(), externalCallId: event.externalCallId, numberId: number.id, tenantId: number.tenantId,
        direction: 'INBOUND', peerNumber: event.peerNumber, startedAt: event.at, bizOpaqueCallbackData: event.bizOpaqueCallbackData,
        sdpOffer: event.sdpOffer, sdpAnswer: null, createdAt: nowIso, updatedAt: nowIso, eventSeq: 0, pendingAction: null,
      }, { tombstone, stale, now: nowIso });
      await persistTransition(tx, t, true, nowIso);
      return;
    }
    if (event.type === 'end' && direction !== 'OUTBOUND') {
      const expiresAt = new Date(now.getTime() + this.#d.config.tombstoneTtlSeconds * 1000).toISOString();
      await putTombstone(tx, number.id, event.externalCallId, event.end, expiresAt);
      return;
    }
    this.#d.logger.info({ numberId: number.id, type: event.type }, 'provider event for an unknown call ignored');
  }
}

function conflict(call: Call, message?: string): ApiError {
  return new ApiError('CALL_STATE_CONFLICT', { ...(message ? { message } : {}), details: { status: call.status } });
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errcode?: number; message?: string };
  return e?.code === '23505' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
