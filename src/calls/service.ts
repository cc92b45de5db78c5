// The call service: load → decide (machine) → provider → persist with outbox, one call at a time.
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import type { CallId, NumberId } from '../ids.ts';
import type { MediaEngine } from '../media/engine/engine.ts';
import type { Call } from '../model/call.ts';
import { isTerminal, UNCONFIRMED_END } from '../model/call.ts';
import { type NumberRecord, speaksMetaModel } from '../model/number.ts';
import { canonicalSdp } from '../model/sdp.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { MetaCallingFeatures } from '../providers/types.ts';
import { type CallFilter, findCallForNumber, listCallsForNumber } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { getNumberById } from '../store/numbers.ts';
import { appendTimeline, hasUncertainAccept, listTimeline, type TimelineEntry } from '../store/timeline.ts';
import type { ActionSlots, TimelineNote } from './action-slots.ts';
import { conflict, providerConflict } from './conflict.ts';
import {
  acceptByBusiness,
  canAnswerOrReject,
  decideTerminate,
  mediaFailed,
  missedAfterPeerEnd,
  rejectByBusiness,
  type TerminateResult,
  type Transition,
  terminated,
} from './machine.ts';
import type { ProviderMedia } from './media.ts';
import { featureNotSupported, META_MODEL_ONLY, noServerMedia, providerError } from './provider-errors.ts';
import { sandboxMark } from './public-call.ts';
import { assertRecordable } from './record-rule.ts';
import { ServerMedia } from './server-media.ts';

/** 0001-01-01T00:00:00Z (Date.UTC reads years below 100 as 19xx). */
const YEAR_1_MS = Date.parse('0001-01-01T00:00:00.000Z');
/** +010000-01-01T00:00:00Z: the first instant whose ISO form no store compares with the four-digit years it holds. */
const YEAR_10000_MS = Date.UTC(10_000, 0, 1);

/**
 * `before` as the stored form (ISO, milliseconds). Calls are stored to the millisecond, and Date drops digits past it:
 * `.5871` read as `.587` would leave out a call created at `.587`, which is strictly before `.5871`. So a fraction
 * with more past the millisecond rounds up to the next one.
 */
function msCeiling(at: Date, text: string): string {
  const beyondMs = /\.\d{3}(\d+)/.exec(text)?.[1] ?? '';
  return /[1-9]/.test(beyondMs) ? new Date(at.getTime() + 1).toISOString() : at.toISOString();
}

export interface CallServiceDeps {
  db: Db;
  providers: ProviderRegistry;
  /** Meta-only features (pre-accept), present when the META adapter is. */
  metaFeatures: MetaCallingFeatures | null;
  /** Play and realtime media on calls whose media the provider holds (web numbers). */
  providerMedia: ProviderMedia;
  slots: ActionSlots;
  clock: Clock;
  config: Pick<Config, 'providerTimeoutMs' | 'evolutionConfirmTimeoutMs'>;
  logger: Logger;
  /** This process's media engine (answers without an SDP on META numbers); null when MEDIA_ENGINE=off. */
  media: MediaEngine | null;
}

export interface ActionResult {
  id: string;
  status: Call['status'];
  alreadyEnded?: true;
  /** false: the provider sent the action without waiting for WhatsApp; its end event will confirm it. */
  providerConfirmed?: false;
  /** A sandbox number's call (docs/spec/media.md §2). */
  sandbox?: true;
}

export class CallService {
  readonly #d: CallServiceDeps;
  /** play, realtime sessions and media failures of calls whose media callgate holds itself. */
  readonly serverMedia: ServerMedia;
  /** Pending confirmation checks, cancelled by stop(): a closed store will never answer them. */
  readonly #confirmTimers = new Set<NodeJS.Timeout>();
  constructor(deps: CallServiceDeps) {
    this.#d = deps;
    this.serverMedia = new ServerMedia(deps);
  }

  stop(): void {
    for (const timer of this.#confirmTimers) {
      clearTimeout(timer);
    }
    this.#confirmTimers.clear();
  }

  /**
   * docs/spec/providers-evolution-go.md §2.4: a 200 from Evolution's reject or hang-up proves only that the request
   * left, and WhatsApp may keep ringing (whatsmeow#1182). With no end event within EVOLUTION_CONFIRM_TIMEOUT_MS the
   * call stays as persisted (providerConfirmed: false) and the operator is told, in the log and the call's timeline.
   */
  #awaitConfirmation(call: Call, action: 'reject' | 'terminate'): void {
    const timeoutMs = this.#d.config.evolutionConfirmTimeoutMs;
    const timer = setTimeout(() => {
      this.#confirmTimers.delete(timer);
      this.#reportUnconfirmed(call, action, timeoutMs).catch((err) =>
        this.#d.logger.warn({ err: err.message, callId: call.id }, 'could not check the provider confirmed an end'),
      );
    }, timeoutMs);
    timer.unref();
    this.#confirmTimers.add(timer);
  }

  async #reportUnconfirmed(call: Call, action: 'reject' | 'terminate', timeoutMs: number): Promise<void> {
    const reported = await this.#d.db.transaction(async (tx) => {
      const current = await findCallForNumber(tx, call.numberId, call.id, { lock: true });
      if (current?.providerData?.[UNCONFIRMED_END] !== true) {
        return false;
      }
      await appendTimeline(tx, call.id, {
        source: 'system',
        type: 'confirm-timeout',
        detail: { action, providerConfirmed: false, confirmTimeoutMs: timeoutMs },
        at: this.#d.clock.now().toISOString(),
      });
      return true;
    });
    if (reported) {
      this.#d.logger.warn(
        { callId: call.id, numberId: call.numberId, action, confirmTimeoutMs: timeoutMs },
        `provider did not confirm the ${action} in time: the call may still ring on the phone`,
      );
    }
  }

  async getCall(numberId: NumberId, idOrExternal: string): Promise<Call> {
    const call = await findCallForNumber(this.#d.db, numberId, idOrExternal);
    if (!call) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    return call;
  }

  /** `before` is a time (Pilot) or one of this number's call ids (exact paging, even within one millisecond). */
  async listCalls(
    numberId: NumberId,
    opts: { limit: number; before: string | null; filter?: CallFilter },
  ): Promise<Call[]> {
    const page = { limit: opts.limit, filter: opts.filter };
    if (opts.before === null) {
      return listCallsForNumber(this.#d.db, numberId, { ...page, cursor: null });
    }
    if (opts.before.startsWith('call_')) {
      const call = await findCallForNumber(this.#d.db, numberId, opts.before);
      if (!call) {
        throw new ApiError('VALIDATION_ERROR', { details: { reason: 'before names no call of this number' } });
      }
      return listCallsForNumber(this.#d.db, numberId, {
        ...page,
        cursor: { beforeCall: { createdAt: call.createdAt, id: call.id } },
      });
    }
    // The schema's date-time takes a leap second (23:59:60), which Date cannot hold.
    const before = new Date(opts.before);
    if (Number.isNaN(before.getTime())) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'before', reason: 'must be a call id or a date-time JavaScript can represent' },
      });
    }
    // No call was made before year 1, and PostgreSQL refuses year 0 (which the date-time format allows): empty.
    if (before.getTime() < YEAR_1_MS) {
      return [];
    }
    const ceiling = msCeiling(before, opts.before);
    // Past 9999-12-31T23:59:59.999Z (an offset or a rounded-up fraction) the ISO form has a six-digit year, which
    // SQLite compares as text and PostgreSQL refuses: every call is before it.
    if (Date.parse(ceiling) >= YEAR_10000_MS) {
      return listCallsForNumber(this.#d.db, numberId, { ...page, cursor: null });
    }
    return listCallsForNumber(this.#d.db, numberId, { ...page, cursor: { before: ceiling } });
  }

  async timeline(numberId: NumberId, idOrExternal: string): Promise<TimelineEntry[]> {
    return listTimeline(this.#d.db, (await this.getCall(numberId, idOrExternal)).id);
  }

  /** docs/spec/calls-api.md §4: exactly one provider action and one call.ended, however many concurrent requests. */
  async terminate(numberId: NumberId, idOrExternal: string): Promise<ActionResult> {
    let call = await this.getCall(numberId, idOrExternal);
    for (;;) {
      const decision = decideTerminate(call);
      if (decision.kind === 'already-ended') {
        return { id: call.id, status: call.status, alreadyEnded: true, ...sandboxMark(call) };
      }
      const actionId = await this.#d.slots.claim(call, 'terminate');
      if (actionId) {
        return this.#runTerminate(call, actionId);
      }
      const outcome = await this.#d.slots.waitForOwner(call);
      if (outcome.kind === 'ended') {
        // A concurrent terminate ended it (COMPLETED by BUSINESS, or by the PEER when the provider said the call was
        // already over, §4.7): its answer is this one's too (§4.6). Anything else (a reject, the peer, the system)
        // ended the call before this request could: §4.4's answer.
        const byTerminate =
          outcome.call.status === 'COMPLETED' &&
          (outcome.call.endedBy === 'BUSINESS' || outcome.endedUnder === 'terminate');
        return {
          id: call.id,
          status: outcome.call.status,
          ...(byTerminate ? {} : { alreadyEnded: true as const }),
          ...sandboxMark(call),
        };
      }
      if (outcome.kind === 'failed') {
        // Another terminate's failure is this request's answer too (one logical action, §4.6). An accept's or
        // reject's is not: its 409s and 429s are no terminate outcome (§4.8), and the call is still to be ended.
        if (outcome.action === 'terminate' || outcome.action === null) {
          throw outcome.error;
        }
        call = await this.getCall(numberId, call.id);
        continue;
      }
      call = outcome.call;
    }
  }

  /** `read`: the call as read before the claim; its pending action is the one this claim may have taken over. */
  async #runTerminate(read: Call, actionId: string): Promise<ActionResult> {
    // What ends the call is decided on the call as it is once the slot is ours: an accept that settled since it was
    // read has connected a call read ringing, and a reject (which Meta refuses as if the call were over) would leave
    // it up at the provider while ours records it ended.
    const call = await this.#d.slots.beforeProvider(
      read,
      actionId,
      async () => (await findCallForNumber(this.#d.db, read.numberId, read.id)) ?? read,
    );
    const decision = decideTerminate(call);
    if (decision.kind === 'already-ended') {
      // A provider end landed once the slot was ours: it was this terminate's (§4.6), or the call's before it.
      const final = await this.#d.slots.settle(call, actionId, (c) => ({ call: c, events: [] }));
      const ours = final.status === 'COMPLETED' && final.endedBy === 'BUSINESS';
      return {
        id: call.id,
        status: final.status,
        ...(ours ? {} : { alreadyEnded: true as const }),
        ...sandboxMark(call),
      };
    }
    let action = decision.action;
    const number = await this.#d.slots.beforeProvider(call, actionId, () => this.#number(call.numberId));
    const adapter = this.#d.providers(number);
    let result = await adapter.endCall(number, call, action);
    // A server that no longer rings the call may answer the reject as if it had no call ("already ended").
    const rejectTaken = result.ok || result.category === 'ALREADY_ENDED';
    const answered = action === 'reject' && rejectTaken ? await this.#answeredMeanwhile(call) : null;
    if (answered) {
      // Answered (on another device of a web number) while the reject was on its way: a reject does not end a
      // connected call, which would stay up at the provider while ours records it ended. It is hung up.
      action = 'terminate';
      result = await adapter.endCall(number, answered, action);
    } else if (
      action === 'reject' &&
      !result.ok &&
      result.category === 'ALREADY_ENDED' &&
      (read.pendingAction?.kind === 'accept' || (await hasUncertainAccept(this.#d.db, call.id)))
    ) {
      // An accept that got no answer (timed out, or its process died: the slot this request took over was an
      // accept's) may have connected the call, and a connected call cannot be rejected: it is hung up instead.
      action = 'terminate';
      result = await adapter.endCall(number, call, action);
    }
    if (!result.ok && result.category !== 'ALREADY_ENDED') {
      const error = providerError(result, 'terminate', adapter);
      throw await this.#d.slots.release(call, actionId, error, {
        source: 'api',
        type: 'terminate',
        // No answer: the provider may still hang up; its end event (or "already ended" to a retry) is then ours.
        detail: { providerAction: action, error: error.code, ...(result.mayHaveActed ? { outcome: 'unknown' } : {}) },
      });
    }
    const outcome: TerminateResult = result.ok
      ? { kind: 'ended' }
      : {
          kind: 'already-ended',
          // A hang-up whose process died before storing the provider's answer left its slot to this one: it may be
          // what ended the call.
          oursMayHaveActed: read.pendingAction?.kind === 'terminate' || (await this.#d.slots.mayHaveEnded(call)),
        };
    const unconfirmed = result.ok && result.value?.providerConfirmed === false;
    const final = await this.#d.slots.settle(
      call,
      actionId,
      (c, now) => awaitingConfirmation(terminated(c, now, outcome), unconfirmed),
      {
        source: 'api',
        type: 'terminate',
        detail: {
          providerAction: action,
          outcome: result.ok ? 'ended' : 'provider says already ended',
          ...(unconfirmed ? { providerConfirmed: false } : {}),
        },
      },
    );
    if (unconfirmed) {
      this.#awaitConfirmation(call, action);
    }
    // The terminate contract (terminate-call.openapi.yaml) keeps its shape: the timeline carries the confirmation.
    // A call that ended otherwise while the provider held this one (the peer declining it) ended before this request
    // could end it: §4.4's answer.
    const endedOtherwise = final.status !== 'COMPLETED';
    return {
      id: call.id,
      status: final.status,
      ...(endedOtherwise ? { alreadyEnded: true as const } : {}),
      ...sandboxMark(call),
    };
  }

  /** The call, when it was answered since `call` was read. */
  async #answeredMeanwhile(call: Call): Promise<Call | null> {
    const current = await findCallForNumber(this.#d.db, call.numberId, call.id);
    return current?.status === 'ACCEPTED' && call.status !== 'ACCEPTED' ? current : null;
  }

  /** Without an SDP on a META number, callgate's media engine answers and holds the media (media: "server"). */
  async accept(
    numberId: NumberId,
    idOrExternal: string,
    sdpAnswer: string | null,
    opts: { record?: boolean } = {},
  ): Promise<ActionResult> {
    const call = await this.#ringingInbound(numberId, idOrExternal);
    const number = await this.#number(call.numberId);
    assertRecordable(number.provider, sdpAnswer, opts.record);
    // After a pre-accept, Meta wants the same SDP again: the stored one is used when none is given.
    let sdp = sdpAnswer ?? call.sdpAnswer;
    const serverMedia = speaksMetaModel(number.provider) && !sdp;
    if (serverMedia) {
      this.serverMedia.assertCanAnswer(call);
    } else if (!sdpAnswer) {
      await this.serverMedia.assertSameRecording(call, opts.record);
    }
    const actionId = await this.#claimToAnswer(call);
    if (actionId === null) {
      return this.accept(numberId, idOrExternal, sdpAnswer, opts);
    }
    const adapter = this.#d.providers(number);
    let preAccepted = false;
    if (serverMedia) {
      sdp = await this.serverMedia.answer(call, actionId, 'accept', opts.record ?? number.recordCalls ?? false);
      preAccepted = await this.#preAcceptForEngine(number, call, actionId, sdp);
    }
    const result = await adapter.accept(number, call, sdp);
    if (!result.ok) {
      const error = providerError(result, 'other', adapter);
      if (preAccepted) {
        throw await this.#acceptFailedAfterPreAccept(call, actionId, sdp as string, error, {
          acceptMayHaveActed: result.mayHaveActed === true,
        });
      }
      if (serverMedia) {
        await this.serverMedia.drop(call, result.mayHaveActed === true);
      }
      throw await this.#failed(call, actionId, error, 'accept', result.mayHaveActed === true);
    }
    // A web number's call has no SDP (calls-api.md §2): an answer a client sends anyway is not kept.
    const kept = speaksMetaModel(number.provider) ? sdp : null;
    const final = await this.#d.slots.settle(call, actionId, (c, now) => acceptByBusiness(c, now, kept), {
      source: 'api',
      type: 'accept',
      detail: { outcome: 'accepted', ...(serverMedia ? { media: 'server', preAccepted } : {}) },
    });
    if (final.status !== 'ACCEPTED') {
      throw conflict(final);
    }
    return { id: call.id, status: final.status, ...sandboxMark(call) };
  }

  /**
   * The engine's answer goes to Meta as pre_accept first (docs/spec/media.md §3: it "pre-accepts and accepts"), so
   * ICE and DTLS run while the accept is on its way and the caller's first words are not clipped.
   */
  async #preAcceptForEngine(number: NumberRecord, call: Call, actionId: string, sdp: string): Promise<boolean> {
    if (!this.#d.metaFeatures) {
      return false;
    }
    const result = await this.#d.metaFeatures.preAccept(number, call, sdp);
    if (!result.ok) {
      const error = providerError(result, 'other');
      if (result.mayHaveActed) {
        // Unanswered, it may have reached Meta, which would then refuse a second pre_accept and any other answer:
        // kept as after a pre-accept, a retried accept sends this answer (valid whether Meta took it or not).
        throw await this.#acceptFailedAfterPreAccept(call, actionId, sdp, error, { outcome: 'pre-accept unconfirmed' });
      }
      await this.serverMedia.drop(call, false);
      throw await this.#failed(call, actionId, error, 'accept');
    }
    return true;
  }

  /**
   * Meta holds the pre-accepted answer now and takes no other: the call stays as after a pre-accept (answer kept,
   * session kept), so a retried accept sends that same answer.
   */
  async #acceptFailedAfterPreAccept(
    call: Call,
    actionId: string,
    sdp: string,
    error: ApiError,
    {
      outcome = 'pre-accepted only',
      acceptMayHaveActed = false,
    }: {
      outcome?: 'pre-accepted only' | 'pre-accept unconfirmed';
      /** The accept went unanswered: Meta may have connected the call (store/timeline.ts hasUncertainAccept). */
      acceptMayHaveActed?: boolean;
    } = {},
  ): Promise<ApiError> {
    const current = await findCallForNumber(this.#d.db, call.numberId, call.id);
    if (!current || isTerminal(current.status)) {
      // The call ended meanwhile (the user hung up): nothing is left to accept, and its media ends with it.
      await this.serverMedia.drop(call, true);
      return this.#failed(call, actionId, error, 'accept');
    }
    const final = await this.#keepAnswer(call, actionId, sdp, {
      source: 'api',
      type: 'accept',
      detail: {
        outcome,
        media: 'server',
        error: error.code,
        ...(acceptMayHaveActed ? { acceptOutcome: 'unknown' } : {}),
      },
    });
    return isTerminal(final.status) ? conflict(final) : error;
  }

  /** Settles the action leaving the call ringing with `sdp` as its answer: what a pre-accept leaves behind. */
  #keepAnswer(call: Call, actionId: string, sdp: string, note: TimelineNote): Promise<Call> {
    return this.#d.slots.settle(
      call,
      actionId,
      (c, now) => ({ call: { ...c, sdpAnswer: sdp, pendingAction: null, updatedAt: now }, events: [] }),
      note,
    );
  }

  /**
   * Meta takes pre_accept once per call (docs/spec/providers-meta.md §1.3): a repeat (a client retrying after a lost
   * response, say) is answered here. The same answer, or none on a call whose media callgate already answers, is
   * the same request: 200, nothing sent. Another answer cannot replace the one Meta has: 409.
   */
  async #preAcceptedAgain(call: Call, sdpAnswer: string | null): Promise<ActionResult> {
    const same =
      sdpAnswer === null
        ? (await this.serverMedia.find(call.numberId, call.id)) !== null ||
          (await this.serverMedia.findRemote(call.numberId, call.id)) !== null
        : call.sdpAnswer !== null && canonicalSdp(sdpAnswer) === canonicalSdp(call.sdpAnswer);
    if (!same) {
      throw new ApiError('CALL_STATE_CONFLICT', {
        message: 'The call was already pre-accepted with another answer; accept it',
        details: { status: call.status },
      });
    }
    return { id: call.id, status: call.status, ...sandboxMark(call) };
  }

  async preAccept(
    numberId: NumberId,
    idOrExternal: string,
    sdpAnswer: string | null,
    opts: { record?: boolean } = {},
  ): Promise<ActionResult> {
    const call = await this.#ringingInbound(numberId, idOrExternal);
    const number = await this.#number(call.numberId);
    if (!speaksMetaModel(number.provider) || !this.#d.metaFeatures) {
      throw featureNotSupported(this.#d.providers(number), META_MODEL_ONLY);
    }
    assertRecordable(number.provider, sdpAnswer, opts.record);
    const serverMedia = !sdpAnswer;
    if (call.sdpAnswer !== null) {
      return this.#preAcceptedAgain(call, sdpAnswer);
    }
    if (serverMedia) {
      this.serverMedia.assertCanAnswer(call);
    }
    const actionId = await this.#claimToAnswer(call);
    if (actionId === null) {
      return this.preAccept(numberId, idOrExternal, sdpAnswer, opts);
    }
    const sdp =
      sdpAnswer ??
      (await this.serverMedia.answer(call, actionId, 'pre-accept', opts.record ?? number.recordCalls ?? false));
    const result = await this.#d.metaFeatures.preAccept(number, call, sdp);
    if (!result.ok) {
      const error = providerError(result, 'other');
      if (result.mayHaveActed) {
        // Unanswered, it may have reached Meta, which then takes no other answer and no second pre_accept: the
        // answer (and its session) is kept, so a repeat is answered here and the accept sends this one.
        const final = await this.#keepAnswer(call, actionId, sdp, {
          source: 'api',
          type: 'pre-accept',
          detail: { outcome: 'unconfirmed', ...(serverMedia ? { media: 'server' } : {}), error: error.code },
        });
        throw isTerminal(final.status) ? conflict(final) : error;
      }
      if (serverMedia) {
        await this.serverMedia.drop(call, false);
      }
      throw await this.#failed(call, actionId, error, 'pre-accept');
    }
    // The call keeps ringing; the answer SDP is kept for the accept that follows.
    const final = await this.#keepAnswer(call, actionId, sdp, {
      source: 'api',
      type: 'pre-accept',
      detail: { outcome: 'pre-accepted', ...(serverMedia ? { media: 'server' } : {}) },
    });
    if (final.status !== 'RINGING') {
      throw conflict(final);
    }
    return { id: call.id, status: final.status, ...sandboxMark(call) };
  }

  async reject(numberId: NumberId, idOrExternal: string): Promise<ActionResult> {
    const call = await this.#ringingInbound(numberId, idOrExternal);
    const actionId = await this.#claimOrConflict(call, 'reject');
    const number = await this.#d.slots.beforeProvider(call, actionId, () => this.#number(call.numberId));
    const adapter = this.#d.providers(number);
    const result = await adapter.reject(number, call);
    // A reject whose process died before storing the provider's answer left its slot to this one: "already ended"
    // is then most likely that reject's doing, not the caller's.
    const tookOverReject = call.pendingAction?.kind === 'reject';
    if (
      !result.ok &&
      result.category === 'ALREADY_ENDED' &&
      !tookOverReject &&
      (call.pendingAction?.kind === 'accept' || (await hasUncertainAccept(this.#d.db, call.id)))
    ) {
      // An accept that got no answer (timed out, or its process died) may have connected the call, and Meta refuses
      // to reject a connected call as if it were over: recorded missed, the user would stay connected. It is hung
      // up, as a terminate does; the call ends COMPLETED by the business.
      const hung = await adapter.endCall(number, call, 'terminate');
      if (hung.ok) {
        const final = await this.#d.slots.settle(call, actionId, (c, now) => terminated(c, now, { kind: 'ended' }), {
          source: 'api',
          type: 'reject',
          detail: {
            outcome: 'hung up: an accept that got no answer may have connected it',
            providerAction: 'terminate',
          },
        });
        return { id: call.id, status: final.status, ...sandboxMark(call) };
      }
      if (hung.category !== 'ALREADY_ENDED') {
        throw await this.#failed(call, actionId, providerError(hung, 'other', adapter), 'reject', hung.mayHaveActed);
      }
      // Over for the hang-up too: the caller gave up first, as below.
    }
    if (!result.ok && result.category === 'ALREADY_ENDED' && !tookOverReject) {
      // The provider no longer has the call: the caller gave up first. Record it; the reject came too late.
      const final = await this.#d.slots.settle(
        call,
        actionId,
        (c, now) => missedAfterPeerEnd(c, now),
        (c) =>
          c.status === 'ACCEPTED'
            ? answeredDuringReject('already ended')
            : { source: 'api', type: 'reject', detail: { outcome: 'provider says already ended' } },
      );
      // The caller's end landed while this reject was at the provider and was recorded as the reject's (R7): the
      // answer is the outcome recorded, not a 409 beside a call rejected by the business.
      if (final.status === 'REJECTED' && final.endedBy === 'BUSINESS') {
        return { id: call.id, status: final.status, ...sandboxMark(call) };
      }
      throw conflict(final);
    }
    if (!result.ok && result.category !== 'ALREADY_ENDED') {
      throw await this.#failed(call, actionId, providerError(result, 'other', adapter), 'reject');
    }
    const unconfirmed = result.ok && result.value?.providerConfirmed === false;
    const final = await this.#d.slots.settle(
      call,
      actionId,
      (c, now) => awaitingConfirmation(rejectByBusiness(c, now), unconfirmed),
      (c) =>
        c.status === 'ACCEPTED'
          ? answeredDuringReject(result.ok ? 'ok' : 'already ended')
          : {
              source: 'api',
              type: 'reject',
              detail: {
                outcome: result.ok ? 'rejected' : 'provider says already ended',
                ...(unconfirmed ? { providerConfirmed: false } : {}),
              },
            },
    );
    if (final.status === 'ACCEPTED') {
      // Answered (on another device of a web number) while the reject was on its way: the call is up, not rejected.
      throw conflict(final);
    }
    // The provider's own end may have landed while it held the reject: that end is its confirmation.
    const awaiting = unconfirmed && final.providerData?.[UNCONFIRMED_END] === true;
    if (awaiting) {
      this.#awaitConfirmation(call, 'reject');
    }
    return {
      id: call.id,
      status: final.status,
      ...(awaiting ? { providerConfirmed: false as const } : {}),
      ...sandboxMark(call),
    };
  }

  /**
   * Plays audio into a server-media call, or an active web-number call through its provider (queued until up).
   * `stopOnKey` (barge-in) needs callgate's own media: it hears the caller's keys, a web number's server does not.
   */
  async play(
    numberId: NumberId,
    idOrExternal: string,
    mediaUrl: string,
    options: { stopOnKey?: boolean } = {},
  ): Promise<ActionResult> {
    const served = await this.serverMedia.find(numberId, idOrExternal);
    if (served) {
      return this.serverMedia.play(served, mediaUrl, options);
    }
    const remote = await this.serverMedia.findRemote(numberId, idOrExternal);
    if (remote) {
      const command = {
        kind: 'play' as const,
        callId: remote.call.id,
        mediaUrl,
        stopOnKey: options.stopOnKey === true,
      };
      return (await this.serverMedia.forward(remote, command)).result;
    }
    const call = await this.#callWithoutServerMedia(numberId, idOrExternal);
    const number = await this.#number(call.numberId);
    if (options.stopOnKey) {
      throw featureNotSupported(
        this.#d.providers(number),
        'stopOnKey needs a call whose media callgate holds (server media): this call’s keys do not reach callgate',
      );
    }
    await this.#d.providerMedia.play(number, call, mediaUrl);
    return { id: call.id, status: call.status, ...sandboxMark(call) };
  }

  /** A realtime media socket of a server-media call, or a ticket for the provider's socket of a web-number call. */
  async realtimeSession(numberId: NumberId, idOrExternal: string, mode: 'talk' | 'listen', wsBaseUrl: string) {
    const served = await this.serverMedia.find(numberId, idOrExternal);
    if (served) {
      return this.serverMedia.realtimeSession(served, mode, wsBaseUrl);
    }
    const remote = await this.serverMedia.findRemote(numberId, idOrExternal);
    if (remote) {
      const command = { kind: 'realtime', callId: remote.call.id, numberId: remote.call.numberId, mode } as const;
      const { realtime } = await this.serverMedia.forward(remote, command);
      if (realtime) {
        return realtime;
      }
    }
    const call = await this.#callWithoutServerMedia(numberId, idOrExternal);
    return this.#d.providerMedia.realtimeSession(await this.#number(call.numberId), call, mode);
  }

  /** Stops what `play` queued on a server-media call (web numbers have no such command). */
  async stopPlay(numberId: NumberId, idOrExternal: string): Promise<ActionResult> {
    const served = await this.serverMedia.find(numberId, idOrExternal);
    const remote = served ? null : await this.serverMedia.findRemote(numberId, idOrExternal);
    if (remote) {
      return (await this.serverMedia.forward(remote, { kind: 'stop-play', callId: remote.call.id })).result;
    }
    if (!served) {
      const call = await this.#callWithoutServerMedia(numberId, idOrExternal);
      const number = await this.#number(call.numberId);
      throw speaksMetaModel(number.provider)
        ? noServerMedia(call)
        : featureNotSupported(
            this.#d.providers(number),
            'a web number has no command to stop or clear what play queued (its Evolution Go server offers none)',
          );
    }
    return this.serverMedia.stopPlay(served);
  }

  /**
   * The call for its provider's own media path, once neither this process nor a live one holds its server media:
   * a call whose server media is over is a 409 there, not the provider's answer.
   */
  async #callWithoutServerMedia(numberId: NumberId, idOrExternal: string): Promise<Call> {
    const call = await this.getCall(numberId, idOrExternal);
    await this.serverMedia.assertNotEndedServerMedia(call);
    return call;
  }

  /**
   * Server media failed on its own (media_timeout) or its process is gone (media_lost): the call ends FAILED by
   * SYSTEM with that reason, with one call.ended.
   */
  async endForMedia(
    numberId: NumberId,
    callId: CallId,
    reason: 'media_timeout' | 'media_lost' = 'media_timeout',
  ): Promise<void> {
    const call = await findCallForNumber(this.#d.db, numberId, callId);
    if (!call || isTerminal(call.status)) {
      return;
    }
    // Its own kind, so a provider end event landing before the provider's answer keeps the media's reason.
    const actionId = await this.#d.slots.claim(call, reason === 'media_lost' ? 'media-lost' : 'media-timeout');
    if (!actionId) {
      return; // another action is ending or answering it; the engine's watcher closes the media afterwards
    }
    const number = await this.#d.slots.beforeProvider(call, actionId, () => this.#number(call.numberId));
    const result = await this.#d.providers(number).endCall(number, call, 'terminate');
    if (!result.ok && result.category !== 'ALREADY_ENDED') {
      // The media is gone whatever the provider says: the call is over for us.
      this.#d.logger.warn({ callId, category: result.category }, 'media failed and the provider could not be told');
    }
    await this.#d.slots.settle(call, actionId, (c, now) => mediaFailed(c, now, reason), {
      source: 'system',
      type: reason === 'media_lost' ? 'media-lost' : 'media-timeout',
      detail: { providerAction: 'terminate', outcome: result.ok ? 'ended' : result.category },
    });
  }

  /**
   * A failed accept/reject: 409 if the call ended meanwhile, else the provider's error. `mayHaveActed`: the provider
   * did not answer and may have carried it out (a terminate then knows the call may be connected).
   */
  async #failed(call: Call, actionId: string, error: ApiError, type: string, mayHaveActed = false): Promise<ApiError> {
    const current = await findCallForNumber(this.#d.db, call.numberId, call.id);
    const final =
      current && isTerminal(current.status)
        ? conflict(current)
        : error.code === 'CALL_STATE_CONFLICT'
          ? providerConflict(error, current ?? call)
          : error;
    return this.#d.slots.release(call, actionId, final, {
      source: 'api',
      type,
      detail: { error: final.code, ...(mayHaveActed ? { outcome: 'unknown' } : {}) },
    });
  }

  async #ringingInbound(numberId: NumberId, idOrExternal: string): Promise<Call> {
    const call = await this.getCall(numberId, idOrExternal);
    if (!canAnswerOrReject(call)) {
      throw conflict(call);
    }
    return call;
  }

  async #claimOrConflict(call: Call, kind: 'accept' | 'reject'): Promise<string> {
    // Only while it still rings: an accept that settled since the call was read has connected it.
    const actionId = await this.#d.slots.claim(call, kind, ['RINGING']);
    if (!actionId) {
      // The claim also fails on a call that ended since it was read (the caller hung up, the ring timed out): the
      // 409 then says what it is now.
      const current = await findCallForNumber(this.#d.db, call.numberId, call.id);
      if (!current || !canAnswerOrReject(current)) {
        throw conflict(current ?? call);
      }
      throw conflict(current, 'Another action on this call is in progress');
    }
    return actionId;
  }

  /**
   * The slot for an answer (accept, pre-accept), or null when a pre-accept stored its answer since `call` was read:
   * Meta takes one pre_accept per call and wants that answer again in the accept, so the request is decided again
   * on the call as it is (a repeat of the pre-accept, or an accept sending the stored answer).
   */
  async #claimToAnswer(call: Call): Promise<string | null> {
    const actionId = await this.#claimOrConflict(call, 'accept');
    const current = await this.#d.slots.beforeProvider(call, actionId, () =>
      findCallForNumber(this.#d.db, call.numberId, call.id),
    );
    if (!current || current.sdpAnswer === call.sdpAnswer) {
      return actionId;
    }
    await this.#d.slots.settle(call, actionId, (c) => ({ call: c, events: [] }));
    return null;
  }

  async #number(id: NumberId): Promise<NumberRecord> {
    const number = await getNumberById(this.#d.db, id);
    if (!number) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    return number;
  }
}

/**
 * The reject's note when the call was answered (on another device of a web number) while the reject was on its way:
 * the call is up and the request answers 409, whatever the provider said to the reject.
 */
function answeredDuringReject(providerAnswer: 'ok' | 'already ended'): TimelineNote {
  return {
    source: 'api',
    type: 'reject',
    detail: {
      outcome: 'not rejected: answered meanwhile, the call stays up',
      providerAnswer,
      error: 'CALL_STATE_CONFLICT',
    },
  };
}

/**
 * The provider took the ending action without confirming it (Evolution's /call/reject): the call is ended for us,
 * and remembers to mark the action confirmed when the provider's own end event arrives (provider-events.ts).
 */
function awaitingConfirmation(t: Transition, unconfirmed: boolean): Transition {
  if (!unconfirmed || t.events.length === 0) {
    return t;
  }
  return { ...t, call: { ...t.call, providerData: { ...t.call.providerData, [UNCONFIRMED_END]: true } } };
}
