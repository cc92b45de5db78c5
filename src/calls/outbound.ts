// Business-initiated calls: the provider places the call, then the call is stored with the provider's id,
// and any events that raced ahead of that (parked) are applied in the same transaction.
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { type CallId, type NumberId, newCallId } from '../ids.ts';
import type { MediaEngine } from '../media/engine/engine.ts';
import type { Call } from '../model/call.ts';
import { type NumberRecord, speaksMetaModel } from '../model/number.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { lockProviderCall } from '../store/calls.ts';
import type { Db, OnStored } from '../store/db.ts';
import { getNumberById } from '../store/numbers.ts';
import { deleteOutboundAttempt, insertOutboundAttempt } from '../store/outbound-attempts.ts';
import { appendTimeline } from '../store/timeline.ts';
import { persistTransition } from './outbox.ts';
import { providerError } from './provider-errors.ts';
import { numberMaxDuration, type ProviderEvents } from './provider-events.ts';
import { assertRecordable } from './record-rule.ts';
import { mediaCapacityError } from './server-media.ts';

export interface StartCallInput {
  to: string;
  /** The business's SDP offer; none on a META/SANDBOX number: callgate's media engine makes it (server media). */
  sdp: string | null;
  record?: boolean;
  bizOpaqueCallbackData: string | null;
  maxDurationSeconds: number | null;
  onStored?: OnStored<Call> | undefined;
}

/**
 * How long a POST /v1/calls may be placing its call: the provider's deadline (Evolution's dial answers only once the
 * phone rings), then the insert of the call. An open attempt older than this was left behind.
 */
export function placingForMs(config: { providerTimeoutMs: number; evolutionDialTimeoutMs: number }): number {
  return Math.max(config.providerTimeoutMs, config.evolutionDialTimeoutMs) + 10_000;
}

export class OutboundCalls {
  readonly #db: Db;
  readonly #providers: ProviderRegistry;
  readonly #events: ProviderEvents;
  readonly #clock: Clock;
  readonly #media: MediaEngine | null;

  constructor(deps: {
    db: Db;
    providers: ProviderRegistry;
    events: ProviderEvents;
    clock: Clock;
    media?: MediaEngine | null;
  }) {
    this.#db = deps.db;
    this.#providers = deps.providers;
    this.#events = deps.events;
    this.#clock = deps.clock;
    this.#media = deps.media ?? null;
  }

  async start(numberId: NumberId, input: StartCallInput): Promise<Call> {
    const number = await getNumberById(this.#db, numberId);
    if (!number) {
      throw new ApiError('UNAUTHORIZED');
    }
    assertRecordable(number.provider, input.sdp, input.record);
    const callId = newCallId();
    let sdp = input.sdp;
    // No offer from the client on a Meta-model number: the engine makes it, or 503 before anything is sent.
    const media = speaksMetaModel(number.provider) && !sdp ? this.#media : null;
    if (speaksMetaModel(number.provider) && !sdp) {
      const offered = media ? await media.offer(callId, number.id, input.record ?? number.recordCalls ?? false) : null;
      if (!offered?.ok) {
        throw mediaCapacityError(media ? media.capacityProblem() : 'off');
      }
      sdp = offered.sdp;
    }
    const startedAt = this.#clock.now().toISOString();
    const adapter = this.#providers(number);
    // A number delete counts it as a live call until the call is stored (store/numbers.ts), and its insert fails once
    // the number is gone: nothing is placed for a deleted number. Left behind only when this request dies or gives
    // up on the provider's answer: on a Meta-model number the sweep then ends the one call it may have placed
    // (src/calls/unclaimed-outbound.ts), and no call someone else placed on the number.
    const attempt = await insertOutboundAttempt(this.#db, number.id, startedAt).catch(async (err: unknown) => {
      await media?.end(callId, 'call_ended');
      throw await this.#numberGone(number, err);
    });
    const result = await adapter.start(number, {
      to: input.to,
      sdp,
      bizOpaqueCallbackData: input.bizOpaqueCallbackData,
    });
    if (!result.ok) {
      await media?.end(callId, 'call_ended');
      if (!result.mayHaveActed) {
        await deleteOutboundAttempt(this.#db, attempt).catch(() => undefined);
      }
      throw providerError(result, 'other', adapter);
    }

    const call = this.#newCall(number, input, callId, sdp, startedAt, result.value);
    const stored = await this.#store(number, call, input.onStored, attempt).catch(async (err: unknown) => {
      await media?.end(callId, 'call_ended');
      // The answer says nothing was stored (a retry places the call again): the call the provider placed must not
      // ring a user with no record of it here, which nobody could hang up.
      const ended = await adapter.endCall(number, call, 'terminate').catch(() => null);
      if (ended?.ok) {
        await deleteOutboundAttempt(this.#db, attempt).catch(() => undefined);
      }
      throw await this.#numberGone(number, err);
    });
    await media?.bind(callId);
    return stored;
  }

  /**
   * The number was deleted (force=true) while this request placed its call, whose foreign key then refused a row:
   * the key that asked went with it, as a request arriving now is told, rather than a 500 for a missing row.
   */
  async #numberGone(number: NumberRecord, err: unknown): Promise<unknown> {
    return (await getNumberById(this.#db, number.id).catch(() => number)) === null ? new ApiError('UNAUTHORIZED') : err;
  }

  #newCall(
    number: NumberRecord,
    input: StartCallInput,
    callId: CallId,
    sdp: string | null,
    startedAt: string,
    started: { externalCallId: string; providerData?: Record<string, unknown> | null },
  ): Call {
    const { externalCallId } = started;
    const now = this.#clock.now().toISOString();
    return {
      id: callId,
      externalCallId,
      numberId: number.id,
      tenantId: number.tenantId,
      direction: 'OUTBOUND',
      status: 'INITIATED',
      peerNumber: input.to.replace(/\D/g, ''),
      peerUserId: null,
      peerLid: null,
      durationSeconds: null,
      startedAt,
      connectedAt: null,
      endedAt: null,
      endedBy: null,
      endReason: null,
      bizOpaqueCallbackData: input.bizOpaqueCallbackData,
      // Only Meta-model calls have SDPs; one a client sends for a web number is not kept (calls-api.md §2).
      sdpOffer: speaksMetaModel(number.provider) ? sdp : null,
      sdpAnswer: null,
      createdAt: now,
      updatedAt: now,
      eventSeq: 0,
      pendingAction: null,
      maxDurationSeconds: input.maxDurationSeconds ?? numberMaxDuration(number),
      providerData: started.providerData ?? null,
    };
  }

  #store(number: NumberRecord, call: Call, onStored: StartCallInput['onStored'], attempt: string): Promise<Call> {
    return this.#db.transaction(async (tx) => {
      await deleteOutboundAttempt(tx, attempt);
      await lockProviderCall(tx, number.id, call.externalCallId);
      const now = this.#clock.now().toISOString();
      const created: Call = { ...call, createdAt: now, updatedAt: now };
      // Evolution's dial answers once the phone rings (docs/spec/calls-api.md §5); Meta's connect only starts the call.
      const ringing = number.provider === 'EVO_GO';
      const stored = await persistTransition(
        tx,
        ringing ? { call: { ...created, status: 'RINGING' }, events: ['call.ringing'] } : { call: created, events: [] },
        { isNew: true },
        now,
      );
      await appendTimeline(tx, call.id, { source: 'api', type: 'start', detail: { to: call.peerNumber }, at: now });
      const current = await this.#events.replayParked(tx, stored, now);
      await onStored?.(tx, current);
      return current;
    });
  }
}
