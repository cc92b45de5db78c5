// Business-initiated calls: the provider places the call, then the call is stored with the provider's id,
// and any events that raced ahead of that (parked) are applied in the same transaction.
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { type NumberId, newCallId } from '../ids.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { lockProviderCall } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { getNumberById, speaksMetaModel } from '../store/numbers.ts';
import { appendTimeline } from '../store/timeline.ts';
import { persistTransition } from './events.ts';
import { providerError } from './provider-errors.ts';
import { numberMaxDuration, type ProviderEvents } from './provider-events.ts';
import type { Call } from './types.ts';

export interface StartCallInput {
  to: string;
  sdp: string | null;
  bizOpaqueCallbackData: string | null;
  maxDurationSeconds: number | null;
}

export class OutboundCalls {
  readonly #db: Db;
  readonly #providers: ProviderRegistry;
  readonly #events: ProviderEvents;
  readonly #clock: Clock;

  constructor(deps: { db: Db; providers: ProviderRegistry; events: ProviderEvents; clock: Clock }) {
    this.#db = deps.db;
    this.#providers = deps.providers;
    this.#events = deps.events;
    this.#clock = deps.clock;
  }

  async start(numberId: NumberId, input: StartCallInput): Promise<Call> {
    const number = await getNumberById(this.#db, numberId);
    if (!number) {
      throw new ApiError('UNAUTHORIZED');
    }
    if (speaksMetaModel(number.provider) && !input.sdp) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { reason: `sdp (the SDP offer) is required on ${number.provider} numbers` },
      });
    }
    const startedAt = this.#clock.now().toISOString();
    const result = await this.#providers(number).start(number, {
      to: input.to,
      sdp: input.sdp,
      bizOpaqueCallbackData: input.bizOpaqueCallbackData,
    });
    if (!result.ok) {
      throw providerError(result, 'other', number.provider);
    }

    return this.#db.transaction(async (tx) => {
      await lockProviderCall(tx, number.id, result.value.externalCallId);
      const now = this.#clock.now().toISOString();
      const call: Call = {
        id: newCallId(),
        externalCallId: result.value.externalCallId,
        numberId: number.id,
        tenantId: number.tenantId,
        direction: 'OUTBOUND',
        status: 'INITIATED',
        peerNumber: input.to.replace(/\D/g, ''),
        durationSeconds: null,
        startedAt,
        connectedAt: null,
        endedAt: null,
        endedBy: null,
        endReason: null,
        bizOpaqueCallbackData: input.bizOpaqueCallbackData,
        sdpOffer: input.sdp,
        sdpAnswer: null,
        createdAt: now,
        updatedAt: now,
        eventSeq: 0,
        pendingAction: null,
        maxDurationSeconds: input.maxDurationSeconds ?? numberMaxDuration(number),
        providerData: null,
      };
      // Evolution's dial answers once the phone rings (docs/spec/calls-api.md §5); Meta's connect only starts the call.
      const ringing = number.provider === 'EVO_GO';
      const stored = await persistTransition(
        tx,
        ringing ? { call: { ...call, status: 'RINGING' }, events: ['call.ringing'] } : { call, events: [] },
        true,
        now,
      );
      await appendTimeline(tx, call.id, { source: 'api', type: 'start', detail: { to: call.peerNumber }, at: now });
      return this.#events.replayParked(tx, stored, now);
    });
  }
}
