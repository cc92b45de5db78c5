// Provider events in: each one in its own transaction, through the machine. Duplicates, reordering,
// late retries, end-before-offer (tombstones) and outbound events racing our own 201 (parking) end here.

import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { newCallId } from '../ids.ts';
import type { Direction } from '../model/call.ts';
import { type Call, UNCONFIRMED_END } from '../model/call.ts';
import type { NumberRecord } from '../model/number.ts';
import { type ProviderCallEvent, ringStartMs } from '../model/provider-event.ts';
import { findCallByExternalIdForNumber, lockProviderCall } from '../store/calls.ts';
import { type Db, isUniqueViolation } from '../store/db.ts';
import { parkEvent, parkedForMs, takeParkedEvents } from '../store/parked-events.ts';
import { appendTimeline, confirmTimelineAction, hasTimelineEntry } from '../store/timeline.ts';
import { putTombstone, takeTombstone } from '../store/tombstones.ts';
import type { ActionSlots } from './action-slots.ts';
import { applyProviderEvent, createInboundCall } from './machine.ts';
import { persistTransition } from './outbox.ts';

export interface ProviderEventDeps {
  db: Db;
  slots: ActionSlots;
  clock: Clock;
  config: Pick<Config, 'ringTimeoutSeconds' | 'tombstoneTtlSeconds' | 'providerTimeoutMs'>;
  logger: Logger;
}

export class ProviderEvents {
  readonly #d: ProviderEventDeps;
  constructor(deps: ProviderEventDeps) {
    this.#d = deps;
  }

  async apply(
    number: NumberRecord,
    event: ProviderCallEvent,
    direction: Direction | null,
    providerData?: Record<string, unknown>,
    /** An offer implied by the call's answer (its own was never seen): however old, it was answered, not missed. */
    opts: { answered?: boolean } = {},
  ): Promise<void> {
    event = notInTheFuture(event, this.#d.clock.now());
    for (let attempt = 0; ; attempt++) {
      try {
        const callId = await this.#d.db.transaction((tx) =>
          this.#applyInTx(tx, number, event, direction, providerData, opts.answered === true),
        );
        if (callId) {
          this.#d.slots.notify(callId);
        }
        return;
      } catch (error) {
        // Two processes inserting the same new call: the loser retries and sees a duplicate.
        if (attempt === 0 && isUniqueViolation(error)) {
          continue;
        }
        throw error;
      }
    }
  }

  /** Replays events that arrived before the outbound call was stored, in the transaction that stores it. */
  async replayParked(tx: Db, call: Call, now: string): Promise<Call> {
    let current = call;
    for (const event of await takeParkedEvents(tx, call.numberId, call.externalCallId, now)) {
      current = await this.#applyToCall(tx, current, event, now);
    }
    return current;
  }

  async #applyInTx(
    tx: Db,
    number: NumberRecord,
    event: ProviderCallEvent,
    direction: Direction | null,
    providerData: Record<string, unknown> | undefined,
    answered: boolean,
  ): Promise<string | null> {
    const now = this.#d.clock.now();
    const nowIso = now.toISOString();
    await lockProviderCall(tx, number.id, event.externalCallId);
    const call = await findCallByExternalIdForNumber(tx, number.id, event.externalCallId, { lock: true });
    if (call) {
      await this.#applyToCall(tx, call, event, nowIso);
      return call.id;
    }
    if (event.type === 'offer') {
      const tombstone = await takeTombstone(tx, number.id, event.externalCallId, nowIso);
      const rungMs = now.getTime() - ringStartMs(event.at, 'INBOUND');
      const stale = !answered && rungMs > this.#d.config.ringTimeoutSeconds * 1000;
      const t = createInboundCall(
        {
          id: newCallId(),
          externalCallId: event.externalCallId,
          numberId: number.id,
          tenantId: number.tenantId,
          direction: 'INBOUND',
          peerNumber: event.peerNumber,
          peerUserId: event.peerUserId ?? null,
          peerLid: event.peerLid ?? null,
          startedAt: event.at,
          bizOpaqueCallbackData: event.bizOpaqueCallbackData,
          sdpOffer: event.sdpOffer,
          sdpAnswer: null,
          createdAt: nowIso,
          updatedAt: nowIso,
          eventSeq: 0,
          pendingAction: null,
          maxDurationSeconds: numberMaxDuration(number),
          providerData: providerData ?? null,
        },
        { tombstone, stale, now: nowIso },
      );
      const created = await persistTransition(tx, t, { isNew: true }, nowIso);
      if (tombstone) {
        await appendTimeline(tx, created.id, {
          source: 'provider',
          type: 'end',
          detail: { arrivedBeforeOffer: true, ...tombstone },
          at: nowIso,
        });
      }
      await appendTimeline(tx, created.id, {
        source: 'provider',
        type: 'offer',
        detail: { status: created.status, ...(stale ? { stale: true } : {}) },
        at: nowIso,
      });
      return created.id;
    }
    if (direction === 'OUTBOUND') {
      // Our own POST /v1/calls may not have stored the provider's id yet.
      await parkEvent(tx, number.id, event, now, parkedForMs(this.#d.config.providerTimeoutMs));
      return null;
    }
    if (event.type === 'end') {
      const expiresAt = new Date(now.getTime() + this.#d.config.tombstoneTtlSeconds * 1000).toISOString();
      await putTombstone(tx, number.id, event.externalCallId, event.end, expiresAt);
      return null;
    }
    this.#d.logger.info({ numberId: number.id, type: event.type }, 'provider event for an unknown call ignored');
    return null;
  }

  async #applyToCall(tx: Db, call: Call, event: ProviderCallEvent, now: string): Promise<Call> {
    let inFlight = this.#d.slots.isLive(call) ? (call.pendingAction?.kind ?? null) : null;
    if (inFlight === null && event.type === 'end' && (await this.#d.slots.mayHaveEnded(call, tx))) {
      inFlight = 'terminate';
    }
    const t = applyProviderEvent(call, event, now, inFlight);
    const type = event.type === 'progress' ? `status.${event.status}` : event.type;
    // The provider's own end confirms an ending action it had only accepted (CallService: awaitingConfirmation).
    const confirms = event.type === 'end' && call.providerData?.[UNCONFIRMED_END] === true;
    // A provider retrying or duplicating an event that changes nothing adds no line: the first one is there.
    if (t.call === call && !confirms && (await hasTimelineEntry(tx, call.id, 'provider', type))) {
      return call;
    }
    let next = t.call === call ? call : await persistTransition(tx, t, { isNew: false }, now);
    if (confirms) {
      const { [UNCONFIRMED_END]: _done, ...rest } = next.providerData ?? {};
      next = await persistTransition(
        tx,
        { call: { ...next, providerData: rest, updatedAt: now }, events: [] },
        { isNew: false },
        now,
      );
      await confirmTimelineAction(tx, call.id);
    }
    await appendTimeline(tx, call.id, {
      source: 'provider',
      type,
      detail: {
        applied: t.call !== call,
        status: next.status,
        ...(event.type === 'end' ? event.end : {}),
        ...(confirms ? { confirms: 'providerConfirmed' } : {}),
      },
      at: now,
    });
    if (answeredAfterOurEnd(call, event)) {
      // WhatsApp connected a call we had declined or hung up while it rang (whatsmeow#1182): the status stays, as
      // terminal states do, but the operator must know the caller may be talking to nobody.
      await appendTimeline(tx, call.id, {
        source: 'provider',
        type: 'reject_not_honoured',
        detail: { status: call.status },
        at: now,
      });
      this.#d.logger.warn(
        { callId: call.id, numberId: call.numberId, status: call.status },
        'the provider connected a call we had ended while it rang: reject not honoured',
      );
    }
    return next;
  }
}

/** How far ahead of our clock a provider's event time may be (clock skew) before it is taken as receipt time. */
const MAX_CLOCK_SKEW_MS = 60_000;

/**
 * A provider time in the future is a wrong clock or a forged payload: a call "started" next year would never reach
 * its ring timeout. Such an event counts as happening now.
 */
function notInTheFuture(event: ProviderCallEvent, now: Date): ProviderCallEvent {
  const nowIso = now.toISOString();
  const clamp = (at: string) => (Date.parse(at) > now.getTime() + MAX_CLOCK_SKEW_MS ? nowIso : at);
  const at = clamp(event.at);
  if (event.type !== 'end') {
    return at === event.at ? event : { ...event, at };
  }
  // An end's own times too: a year-ahead endTime made a duration no column holds (PostgreSQL refused the write).
  const startTime = event.end.startTime === null ? null : clamp(event.end.startTime);
  const endTime = event.end.endTime === null ? null : clamp(event.end.endTime);
  if (at === event.at && startTime === event.end.startTime && endTime === event.end.endTime) {
    return event;
  }
  const moved = startTime !== event.end.startTime || endTime !== event.end.endTime;
  // A moved time makes the provider's duration meaningless: the machine computes it from the times left.
  return { ...event, at, end: { ...event.end, startTime, endTime, ...(moved ? { duration: null } : {}) } };
}

/** A CONNECTED for an inbound call the business ended (REJECTED, or COMPLETED) before it was ever answered. */
function answeredAfterOurEnd(call: Call, event: ProviderCallEvent): boolean {
  return (
    event.type === 'progress' &&
    event.status === 'ACCEPTED' &&
    call.direction === 'INBOUND' &&
    call.endedBy === 'BUSINESS' &&
    call.connectedAt === null &&
    (call.status === 'REJECTED' || call.status === 'COMPLETED')
  );
}

/** A number-level default for how long an answered call may last. */
export function numberMaxDuration(number: NumberRecord): number | null {
  const value = number.publicConfig.maxCallDurationSeconds;
  return typeof value === 'number' && value > 0 ? value : null;
}
